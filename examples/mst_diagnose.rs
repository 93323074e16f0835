//! Where MST's error comes from, run by run (issue #21): the tree it chose, how much the
//! compression merged, and the mean 3-way L1 split into model error (the fitted model's own
//! marginals, compressed domain), sampling error (records before decoding, compressed
//! domain) and the final error (decoded records, original domain). Release build:
//!
//!   cargo run --release --example mst_diagnose -- adult 1 30
//!
//! The figures are computed from the private data: a curator-side diagnostic, never output
//! of a release.
//!
//! Experiments (environment): `VARIANTS=acc:2000,md:1000,mdtol:3e-4,...` re-fits each run's
//! measurements with other estimators (paired: same noise) and prints their model error;
//! `COMPRESS_SIGMAS=k` (0: none), `OPTIMIZER=acc` (the converged accelerated fit),
//! `IPF=n`, `ITERS=n` change MST's own options; `SHOW_WEIGHTS=1` prints the tree-selection
//! scores; `ORACLE_DECODE=1` decodes merged codes by the true counts (an upper bound on
//! what better decoding weights could gain).

use dpsynth::data::EncodedTable;
use dpsynth::marginal::{all_k_way, count, Domain, InMemoryOracle, MarginalOracle, MarginalTable};
use dpsynth::mechanism::compress::CompressedOracle;
use dpsynth::mechanism::{mst, MstOptions, NoProgress};
use dpsynth::model::{sample, SamplingMethod};
use dpsynth::privacy::{Budget, Delta, Epsilon};

#[path = "common/data.rs"]
mod data;
use data::load;

fn encoded(domain: &Domain, cols: &[Vec<u32>]) -> EncodedTable {
    let n = cols.first().map_or(0, |c| c.len());
    let rows: Vec<Vec<u32>> = (0..n)
        .map(|r| cols.iter().map(|c| c[r]).collect())
        .collect();
    EncodedTable::from_rows(domain.names().to_vec(), domain.sizes().to_vec(), &rows)
        .expect("codes in range")
}

fn mean_l1(truth: &[MarginalTable], other: &[MarginalTable]) -> f64 {
    truth
        .iter()
        .zip(other)
        .map(|(a, b)| a.l1_normalized(b))
        .sum::<f64>()
        / truth.len() as f64
}

fn quartiles(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let x = p * (s.len() - 1) as f64;
        let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
        s[lo] + (s[hi] - s[lo]) * (x - lo as f64)
    };
    format!(
        "min {:.4} q1 {:.4} median {:.4} q3 {:.4} max {:.4} mean {:.4}",
        s[0],
        q(0.25),
        q(0.5),
        q(0.75),
        s[s.len() - 1],
        s.iter().sum::<f64>() / s.len() as f64
    )
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let set = args.get(1).map(String::as_str).unwrap_or("adult");
    let eps: f64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1.0);
    let runs: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let (table, _) = load(set)?;
    let oracle = InMemoryOracle::new(&table);
    let domain = oracle.domain_owned();
    let triples = all_k_way(domain.len(), 3);
    let truth: Vec<MarginalTable> = triples.iter().map(|c| count(&table, &domain, c)).collect();
    let budget = Budget::from_epsilon_delta(Epsilon::new(eps)?, Delta::new(1e-9)?)?;
    let mut opts = MstOptions::default();
    // Experiments: COMPRESS_SIGMAS overrides the compression threshold (0 = no compression).
    if let Some(k) = std::env::var("COMPRESS_SIGMAS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        opts.compress = k > 0.0;
        opts.compress_sigmas = k;
    }
    // OPTIMIZER=acc (the accelerated method, converged), IPF=sweeps, ITERS=cap: experiments.
    if std::env::var("OPTIMIZER").as_deref() == Ok("acc") {
        opts.estimation = dpsynth::model::EstimationOptions::default();
    }
    if let Some(n) = std::env::var("IPF").ok().and_then(|v| v.parse().ok()) {
        opts.estimation.ipf_sweeps = n;
    }
    if let Some(n) = std::env::var("ITERS").ok().and_then(|v| v.parse().ok()) {
        opts.estimation.max_iters = n;
    }
    let (mut model_e, mut samp_e, mut final_e) = (Vec::new(), Vec::new(), Vec::new());
    for a in 0..domain.len() {
        print!("{a}={} ", domain.name(a));
    }
    println!();
    println!("run  model_c  sample_c  final  merged  tree");
    for run in 0..runs {
        let fitted = &mst(&oracle, budget, &opts, &NoProgress)?;
        let cdomain = fitted.compression.domain(&domain);
        let coracle = CompressedOracle::new(&oracle, &fitted.compression);
        let ctruth: Vec<MarginalTable> = triples
            .iter()
            .map(|c| coracle.marginal(c))
            .collect::<Result<_, _>>()?;
        let m = mean_l1(&ctruth, &fitted.model.project_many(&triples));
        // The loss the true (compressed) marginals would have, and the measured cell count.
        let mut truth_loss = 0.0;
        let mut cells = 0usize;
        for x in &fitted.measurements {
            let t = coracle.marginal(&x.clique)?;
            cells += x.values.len();
            truth_loss += t
                .values
                .iter()
                .zip(&x.values)
                .map(|(a, b)| ((a - b) / x.sigma).powi(2))
                .sum::<f64>();
        }
        let rows = fitted.default_rows();
        let ccols = sample(&fitted.model, rows, run, SamplingMethod::Rounding);
        let csynth = encoded(&cdomain, &ccols);
        let s = mean_l1(
            &ctruth,
            &triples
                .iter()
                .map(|c| count(&csynth, &cdomain, c))
                .collect::<Vec<_>>(),
        );
        let mut fitted = fitted.clone();
        if std::env::var("ORACLE_DECODE").is_ok() {
            // Experiment only: spread merged codes by the TRUE one-way counts (an upper bound
            // on what better decoding weights could gain).
            for a in 0..domain.len() {
                let t = count(&table, &domain, &dpsynth::marginal::Clique::new([a]));
                for (k, g) in fitted.compression.groups[a].iter().enumerate() {
                    fitted.compression.weights[a][k] =
                        g.iter().map(|&o| t.values[o as usize] + 1e-9).collect();
                }
            }
        }
        let cols = fitted.synthesize(rows, run, SamplingMethod::Rounding);
        let synth = encoded(&domain, &cols);
        let f = mean_l1(
            &truth,
            &triples
                .iter()
                .map(|c| count(&synth, &domain, c))
                .collect::<Vec<_>>(),
        );
        let merged: usize = (0..domain.len())
            .map(|a| domain.size(a) - cdomain.size(a))
            .sum();
        let mut edges: Vec<String> = fitted
            .measurements
            .iter()
            .filter(|x| x.clique.len() == 2)
            .map(|x| format!("{}-{}", x.clique.attrs()[0], x.clique.attrs()[1]))
            .collect();
        edges.sort();
        println!(
            "{run:>3}  {m:.4}  {s:.4}   {f:.4}  {merged:>5}  {} cells {cells} truth {truth_loss:.0} iters {} loss {:.1}",
            edges.join(" "),
            fitted.estimation.iterations,
            fitted.estimation.final_loss
        );
        if std::env::var("SHOW_WEIGHTS").is_ok() {
            let d = domain.len();
            let (indep, _) = dpsynth::model::estimate(
                &cdomain,
                &fitted.measurements[..d],
                &opts.estimation,
                None,
            )?;
            let pairs = all_k_way(d, 2);
            let est = indep.project_many(&pairs);
            let mut w: Vec<(f64, String)> = pairs
                .iter()
                .zip(&est)
                .map(|(p, e)| {
                    let x = coracle.marginal(p).unwrap();
                    let l1: f64 = x
                        .values
                        .iter()
                        .zip(&e.values)
                        .map(|(a, b)| (a - b).abs())
                        .sum();
                    (l1, format!("{}-{}", p.attrs()[0], p.attrs()[1]))
                })
                .collect();
            w.sort_by(|a, b| b.0.total_cmp(&a.0));
            let top: Vec<String> = w
                .iter()
                .take(30)
                .map(|(l, n)| format!("{n}:{l:.0}"))
                .collect();
            println!("     weights {}", top.join(" "));
        }
        // VARIANTS=md:1000,acc:300,...: paired re-estimations from this run's measurements.
        if let Ok(v) = std::env::var("VARIANTS") {
            let mut line = String::new();
            for spec in v.split(',') {
                let (kind, iters) = spec.split_once(':').unwrap_or((spec, "2000"));
                let mut eo = dpsynth::model::EstimationOptions {
                    max_iters: iters.parse().unwrap_or(2000),
                    ..Default::default()
                };
                if kind == "md" {
                    eo.optimizer = dpsynth::model::Optimizer::MirrorDescent;
                    eo.ipf_sweeps = 0;
                }
                if kind == "mdtol" || kind == "acctol" {
                    eo.tol = iters.parse().unwrap_or(1e-6);
                    eo.max_iters = 20000;
                    eo.ipf_sweeps = 0;
                    if kind == "mdtol" {
                        eo.optimizer = dpsynth::model::Optimizer::MirrorDescent;
                    }
                }
                if kind == "accu" {
                    eo.ipf_sweeps = 0;
                }
                if kind == "mdipf" {
                    eo.optimizer = dpsynth::model::Optimizer::MirrorDescent;
                }
                let (mm, rep) =
                    dpsynth::model::estimate(&cdomain, &fitted.measurements, &eo, None)?;
                let e = mean_l1(&ctruth, &mm.project_many(&triples));
                line.push_str(&format!(
                    " {spec}={e:.4}/{:.0}/{}",
                    rep.final_loss, rep.iterations
                ));
            }
            println!("     variants{line}");
        }
        model_e.push(m);
        samp_e.push(s);
        final_e.push(f);
    }
    println!("model  (compressed): {}", quartiles(&model_e));
    println!("sample (compressed): {}", quartiles(&samp_e));
    println!("final  (original)  : {}", quartiles(&final_e));
    Ok(())
}
