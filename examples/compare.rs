//! Fidelity and time of MST and AIM on a data set, several runs per epsilon: the table in
//! issue #5's note. Release build recommended:
//!
//!   cargo run --release --example compare -- adult 0.3,1,3 5
//!   cargo run --release --example compare -- nist 1 5
//!   cargo run --release --example compare -- adult@1000 1 10   (every k-th row, 1,000 rows)
//!   cargo run --release --example compare -- table [0.3,1,3] [5]  (the README table, Markdown)
//!
//! Prints one line per (mechanism, epsilon): mean 3-way L1 (normalised marginals, all
//! triples, synthetic rows = the model's noisy total, rounding sampler), its per-run values,
//! and the mean and largest wall time per run. A run's time is what `dpsynth synth` spends
//! on the same work: the fit, the error bars (`Fitted::assess` with the release's
//! replicates) and sampling; not reading the CSV or writing files. Each AIM run's line on
//! stderr also names its rounds, annealings and CPU seconds (user + system: comparable on a
//! loaded machine). `DPSYNTH_NO_BARS=1` skips the error bars (accuracy trials: they change
//! neither the model nor the rows); `DPSYNTH_ROUND_BATCH=K` and `DPSYNTH_SINGLE=0|1`
//! set AIM's `round_batch` and `estimation.single_precision` (A/B trials).
//! `DPSYNTH_BIG_SAMPLE=F` also prints, per run, where the records' error comes from: the
//! 3-way L1 of F times as many records from the same model and of independent draws.

use std::path::PathBuf;
use std::time::Instant;

use dpsynth::data::read_csv;
use dpsynth::eval::{evaluate, EvalOptions};
use dpsynth::marginal::{Domain, InMemoryOracle};
use dpsynth::mechanism::{fit, AimOptions, MechanismSpec, MstOptions, NoProgress, Workload};
use dpsynth::model::SamplingMethod;
use dpsynth::privacy::{Budget, Delta, Epsilon};
use dpsynth::release::ACCURACY_REPLICATES;
use dpsynth::schema::Schema;

#[path = "common/cpu.rs"]
mod cpu;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("table") {
        return readme_table(&args[2..]);
    }
    let set = args.get(1).map(String::as_str).unwrap_or("adult");
    let epsilons: Vec<f64> = args
        .get(2)
        .map(String::as_str)
        .unwrap_or("1")
        .split(',')
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let runs: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let mechs: Vec<String> = args
        .get(4)
        .map(|s| s.split(',').map(String::from).collect())
        .unwrap_or_else(|| vec!["mst".into(), "aim".into()]);
    for row in run_set(set, &epsilons, runs, &mechs)? {
        let per: Vec<String> = row.errors.iter().map(|e| format!("{e:.4}")).collect();
        println!(
            "{:<5} {:>5} {:>10.4} {:>9.1} {:>9.1}  {}",
            row.mech,
            row.eps,
            row.mean(),
            row.secs,
            row.max_secs,
            per.join(" ")
        );
    }
    Ok(())
}

/// One (mechanism, epsilon) cell: per-run 3-way L1, mean and largest wall time per run.
struct Cell {
    mech: String,
    eps: f64,
    errors: Vec<f64>,
    secs: f64,
    max_secs: f64,
}

impl Cell {
    fn mean(&self) -> f64 {
        self.errors.iter().sum::<f64>() / self.errors.len().max(1) as f64
    }
}

/// `compare table [EPSILONS] [RUNS]`: the README's "Mean 3-way L1 by epsilon" table
/// (adult and NIST, MST and AIM; default epsilons 0.3,1,3,10 and 5 runs), as Markdown.
fn readme_table(args: &[String]) -> anyhow::Result<()> {
    let epsilons: Vec<f64> = args
        .first()
        .map(String::as_str)
        .unwrap_or("0.3,1,3,10")
        .split(',')
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let runs: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let mechs = vec!["mst".to_string(), "aim".to_string()];
    println!("| data | epsilon | MST | AIM | AIM time per run (mean, max) |");
    println!("|---|---|---|---|---|");
    for (set, label) in [("adult", "adult"), ("nist", "NIST")] {
        let cells = run_set(set, &epsilons, runs, &mechs)?;
        for &eps in &epsilons {
            let get = |m: &str| cells.iter().find(|c| c.mech == m && c.eps == eps);
            let (Some(mst), Some(aim)) = (get("mst"), get("aim")) else {
                continue;
            };
            let (a, b) = (format!("{:.4}", mst.mean()), format!("{:.4}", aim.mean()));
            let (a, b) = if aim.mean() < mst.mean() {
                (a, format!("**{b}**"))
            } else {
                (format!("**{a}**"), b)
            };
            println!(
                "| {label} | {eps} | {a} | {b} | {:.1} s, {:.1} s |",
                aim.secs, aim.max_secs
            );
        }
    }
    println!(
        "\n(delta 1e-9, {runs} runs per cell; `cargo run --release --example compare -- table`)"
    );
    Ok(())
}

fn run_set(set: &str, epsilons: &[f64], runs: u64, mechs: &[String]) -> anyhow::Result<Vec<Cell>> {
    let mut out = Vec::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // `SHARED_DATA=DIR` for a checkout that is not beside the shared data (a worktree).
    let shared =
        std::env::var_os("SHARED_DATA").map_or_else(|| root.join("../shared/data"), PathBuf::from);
    // `adult@1000`: every k-th row of adult, 1,000 rows in all (a public, deterministic rule).
    let (set, subsample) = match set.split_once('@') {
        Some((s, n)) => (s, Some(n.parse::<usize>()?)),
        None => (set, None),
    };
    let (csv, schema) = match set {
        "adult" => (
            shared.join("adult/adult.csv"),
            shared.join("adult/adult-domain.json"),
        ),
        "nist" => (
            shared.join("nist_crc/national2019.csv"),
            root.join("examples/nist/national2019.schema.toml"),
        ),
        "titanic" => (
            shared.join("titanic/titanic.csv"),
            shared.join("titanic/titanic-domain.json"),
        ),
        "demo" => (
            root.join("examples/data/admissions.csv"),
            root.join("examples/data/admissions.schema.toml"),
        ),
        other => anyhow::bail!(
            "unknown data set {other} (adult, nist, titanic, demo; NAME@ROWS subsamples)"
        ),
    };
    let schema = Schema::from_path(&schema).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut table, _) = read_csv(&csv, &schema)?;
    if let Some(rows) = subsample {
        let step = (table.n_rows() / rows.max(1)).max(1);
        let picked: Vec<Vec<u32>> = (0..rows.min(table.n_rows()))
            .map(|i| table.row(i * step))
            .collect();
        table = dpsynth::data::EncodedTable::from_rows(
            table.names().to_vec(),
            table.cardinalities().to_vec(),
            &picked,
        )
        .ok_or_else(|| anyhow::anyhow!("subsample"))?;
    }
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    let oracle = InMemoryOracle::new(&table);
    eprintln!(
        "{set}: {} rows, {} columns, {runs} runs per cell",
        table.n_rows(),
        domain.len()
    );
    eprintln!(
        "{:<5} {:>5} {:>10} {:>9} {:>9}  per run",
        "mech", "eps", "3-way L1", "mean s", "max s"
    );
    for &eps in epsilons {
        let budget = Budget::from_epsilon_delta(Epsilon::new(eps)?, Delta::new(1e-9)?)?;
        for mech in mechs {
            let spec = match mech.as_str() {
                "mst" => MechanismSpec::Mst(MstOptions::default()),
                _ => {
                    // Experiments: DPSYNTH_ROUND_TOL, DPSYNTH_ROUND_ITERS, DPSYNTH_ROUND_ITERS_MIN, DPSYNTH_ROUND_IPF, DPSYNTH_MAX_MODEL_MB, DPSYNTH_FINAL_ITERS, DPSYNTH_FINAL_MOVE_TOL, DPSYNTH_ROUND_MOVE_TOL, DPSYNTH_CARRY_STEP, DPSYNTH_ONE_WAY_SHARE, DPSYNTH_COMPRESS(_SIGMAS),
                    // DPSYNTH_ONE_WAY_TARGET, DPSYNTH_ROUNDS, DPSYNTH_SELECTION_SHARE override the defaults.
                    let mut o = AimOptions::default();
                    if let Some(t) = std::env::var("DPSYNTH_ROUND_TOL")
                        .ok()
                        .and_then(|v| v.parse().ok())
                    {
                        o.round_tol = t;
                    }
                    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
                    if let Some(v) = env("DPSYNTH_ONE_WAY_SHARE") {
                        o.one_way_share = v;
                    }
                    if let Some(v) = env("DPSYNTH_ONE_WAY_TARGET") {
                        o.one_way_target = v;
                    }
                    if let Some(v) = env("DPSYNTH_COMPRESS") {
                        o.compress = v != 0.0;
                    }
                    if let Some(v) = env("DPSYNTH_COMPRESS_SIGMAS") {
                        o.compress_sigmas = v;
                    }
                    if let Some(v) = env("DPSYNTH_ROUNDS") {
                        o.rounds = Some(v as usize);
                    }
                    if let Some(v) = env("DPSYNTH_ROUND_ITERS") {
                        o.round_iters = v as usize;
                    }
                    if let Some(v) = env("DPSYNTH_ROUND_ITERS_MIN") {
                        o.round_iters_min = Some(v as usize);
                    }
                    if let Some(v) = env("DPSYNTH_ROUND_IPF") {
                        o.round_ipf = v != 0.0;
                    }
                    if let Some(v) = env("DPSYNTH_MAX_MODEL_MB") {
                        o.max_model_size_mb = v;
                    }
                    if let Some(v) = env("DPSYNTH_FIT_WORK") {
                        o.fit_work = Some(v);
                    }
                    if let Some(v) = env("DPSYNTH_SELECTION_SHARE") {
                        o.selection_share = v;
                    }
                    if let Some(i) = std::env::var("DPSYNTH_FINAL_ITERS")
                        .ok()
                        .and_then(|v| v.parse().ok())
                    {
                        o.estimation.max_iters = i;
                    }
                    if let Some(v) = env("DPSYNTH_FINAL_MOVE_TOL") {
                        o.estimation.move_tol = Some(v);
                    }
                    if let Some(v) = env("DPSYNTH_ROUND_MOVE_TOL") {
                        o.round_move_tol = Some(v);
                    }
                    if let Some(v) = env("DPSYNTH_ROUND_BATCH") {
                        o.round_batch = v as usize;
                    }
                    if let Some(v) = env("DPSYNTH_SINGLE") {
                        o.estimation.single_precision = v != 0.0;
                    }
                    if let Some(v) = env("DPSYNTH_CARRY_STEP") {
                        o.round_carry_step = (v > 0.0).then_some(v);
                    }
                    MechanismSpec::Aim(o, Workload::all_k_way(domain.len(), 3))
                }
            };
            let (mut errs, mut secs) = (Vec::new(), Vec::new());
            for run in 0..runs {
                let t = Instant::now();
                let c = cpu::cpu_seconds();
                let mut fitted = fit(&oracle, budget, &spec, &NoProgress)?;
                // DPSYNTH_NO_BARS=1: accuracy trials without the error bars (they do not
                // change the model or the synthetic rows, only the run's time).
                if std::env::var("DPSYNTH_NO_BARS").map_or(true, |v| v == "0") {
                    fitted.assess(run, ACCURACY_REPLICATES)?;
                }
                let cols = fitted.synthesize(fitted.default_rows(), run, SamplingMethod::Rounding);
                secs.push(t.elapsed().as_secs_f64());
                let cpu_s = cpu::cpu_seconds() - c;
                let rep = evaluate_columns(&table, &domain, &cols)?;
                let three = rep
                    .fidelity
                    .marginals
                    .iter()
                    .find(|m| m.k == 3)
                    .map_or(f64::NAN, |m| m.mean_l1);
                errs.push(three);
                // DPSYNTH_BIG_SAMPLE=F: where the records' error comes from, on this run's
                // model (curator-side: computed from the private data).
                if let Some(f) = std::env::var("DPSYNTH_BIG_SAMPLE")
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                {
                    sampling_error(&table, &domain, &fitted, &rep, f, run)?;
                }
                if mech == "aim" {
                    if let Some((name, d)) =
                        fitted.phases.iter().find(|(n, _)| n.ends_with("rounds"))
                    {
                        let fin = fitted
                            .phases
                            .iter()
                            .find(|(n, _)| n == "estimation")
                            .map_or(0.0, |(_, d)| d.as_secs_f64());
                        let bars = fitted
                            .phases
                            .iter()
                            .find(|(n, _)| n == "error bars")
                            .map_or(0.0, |(_, d)| d.as_secs_f64());
                        // Annealings: rounds whose next measurement took 4x the rho
                        // (the last round's rho is the remainder, so it is not counted).
                        let rhos: Vec<f64> = fitted
                            .ledger
                            .iter()
                            .filter(|e| {
                                e.purpose.starts_with("AIM round") && e.mechanism != "noisy_max"
                            })
                            .map(|e| e.rho)
                            .collect();
                        let anneals = rhos
                            .windows(2)
                            .take(rhos.len().saturating_sub(2))
                            .filter(|w| w[1] > 2.0 * w[0])
                            .count();
                        eprintln!(
                            "  aim eps {eps} run {run}: {name} ({anneals} annealings) in {:.1} s; \
                             final fit {} iterations (converged {}) in {fin:.1} s; error bars \
                             {bars:.1} s; total {:.1} s ({cpu_s:.1} s CPU); model {:.2} M cells; \
                             3-way L1 {three:.4}",
                            d.as_secs_f64(),
                            fitted.estimation.iterations,
                            fitted.estimation.converged,
                            secs.last().copied().unwrap_or(0.0),
                            fitted.model.size_cells() as f64 / 1e6,
                        );
                        for (n, d) in fitted.phases.iter().filter(|(n, _)| n.starts_with("  of")) {
                            eprintln!("    {}: {:.1} s", n.trim(), d.as_secs_f64());
                        }
                    }
                }
            }
            let t = secs.iter().sum::<f64>() / secs.len() as f64;
            let max_secs = secs.iter().copied().fold(0.0, f64::max);
            out.push(Cell {
                mech: mech.clone(),
                eps,
                errors: errs,
                secs: t,
                max_secs,
            });
        }
    }
    Ok(out)
}

/// The 3-way error of `f` times as many records from the same model (near the model's
/// own, decoded) and of independent draws at the release's size, beside the rounding
/// sampler's (`rep`); and the rounding sampler's extra error over the `f`-times sample,
/// split between triples inside one junction-tree clique and the others.
fn sampling_error(
    table: &dpsynth::data::EncodedTable,
    domain: &Domain,
    fitted: &dpsynth::mechanism::Fitted,
    rep: &dpsynth::eval::EvalReport,
    f: usize,
    run: u64,
) -> anyhow::Result<()> {
    let three_way = |cols: Vec<Vec<u32>>| -> anyhow::Result<Vec<(Vec<usize>, f64)>> {
        Ok(all_three(&evaluate_columns(table, domain, &cols)?))
    };
    let mean = |v: &[(Vec<usize>, f64)]| v.iter().map(|x| x.1).sum::<f64>() / v.len().max(1) as f64;
    let rows = fitted.default_rows();
    let records = all_three(rep);
    let many = three_way(fitted.synthesize(rows * f.max(1), run + 1000, SamplingMethod::Rounding))?;
    let iid = three_way(fitted.synthesize(rows, run + 2000, SamplingMethod::Forward))?;
    let tree = fitted.model.junction_tree();
    let (mut inside, mut outside) = ((0usize, 0.0f64), (0usize, 0.0f64));
    for ((attrs, l1), (_, l1_many)) in records.iter().zip(&many) {
        let part = if tree
            .cliques()
            .iter()
            .any(|c| attrs.iter().all(|a| c.attrs().contains(a)))
        {
            &mut inside
        } else {
            &mut outside
        };
        part.0 += 1;
        part.1 += l1 - l1_many;
    }
    eprintln!(
        "  records' 3-way L1 {:.4}; {f}x as many records {:.4}; independent draws {:.4}; \
         extra over {f}x: {} triples inside a clique {:.4}, {} others {:.4}",
        mean(&records),
        mean(&many),
        mean(&iid),
        inside.0,
        inside.1 / inside.0.max(1) as f64,
        outside.0,
        outside.1 / outside.0.max(1) as f64,
    );
    Ok(())
}

/// The evaluation (without distances to closest records) of synthetic records given as
/// columns of codes.
fn evaluate_columns(
    table: &dpsynth::data::EncodedTable,
    domain: &Domain,
    cols: &[Vec<u32>],
) -> anyhow::Result<dpsynth::eval::EvalReport> {
    let n = cols.first().map_or(0, |c| c.len());
    let rows: Vec<Vec<u32>> = (0..n)
        .map(|r| cols.iter().map(|c| c[r]).collect())
        .collect();
    let synth = dpsynth::data::EncodedTable::from_rows(
        domain.names().to_vec(),
        domain.sizes().to_vec(),
        &rows,
    )
    .ok_or_else(|| anyhow::anyhow!("codes out of range"))?;
    let opts = EvalOptions {
        dcr_sample: 0,
        ..EvalOptions::default()
    };
    Ok(evaluate(table, &synth, domain, &opts)?)
}

/// Every 3-way clique's error of an evaluation, in its clique order.
fn all_three(rep: &dpsynth::eval::EvalReport) -> Vec<(Vec<usize>, f64)> {
    rep.fidelity
        .marginals
        .iter()
        .find(|m| m.k == 3)
        .map(|m| m.all.iter().map(|c| (c.attrs.clone(), c.l1)).collect())
        .unwrap_or_default()
}
