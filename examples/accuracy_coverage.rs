//! Calibration of `accuracy.json` against the truth: how often the stated 95% bounds cover
//! the model's real error, and how close the estimates come (issue #15's must-show).
//!
//!   cargo run --release --example accuracy_coverage -- adult 1 20 [aim|mst] [rows]
//!
//! For each run: fit, compute the error bars from the DP outputs (`Fitted::assess`), then
//! compare with the private data: for every measured marginal, whether the count bound
//! covers `||M_r(D) - M_r(model)||_1` (and the share bound the normalised distance); for
//! every reported clique, the estimate against the true normalised distance, separately for
//! measured and unmeasured cliques; and the coverage of the selection bounds. `rows`
//! subsamples the data (every k-th row) to that size.
//!
//! `FINAL_FIT=ITERS` (environment) also checks whether the release's own fit is converged:
//! the mean true L1 over the reported cliques of the released model against a fresh
//! `model::refit` of the same measurements run for ITERS iterations (paired: same noise).

use dpsynth::data::EncodedTable;
use dpsynth::marginal::{Clique, InMemoryOracle, MarginalOracle};
use dpsynth::mechanism::{fit, AimOptions, MechanismSpec, MstOptions, NoProgress, Workload};
use dpsynth::model::accuracy::BoundMethod;
use dpsynth::privacy::{Budget, Delta, Epsilon};
#[path = "common/data.rs"]
mod data;
use data::load;

/// Every k-th row, `rows` in all (deterministic, public rule).
pub fn subsample(table: &EncodedTable, rows: usize) -> EncodedTable {
    let n = table.n_rows();
    let step = (n / rows.max(1)).max(1);
    let picked: Vec<Vec<u32>> = (0..rows.min(n)).map(|i| table.row(i * step)).collect();
    EncodedTable::from_rows(
        table.names().to_vec(),
        table.cardinalities().to_vec(),
        &picked,
    )
    .expect("rows of the same table")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let set = args.get(1).map(String::as_str).unwrap_or("adult");
    let eps: f64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1.0);
    let runs: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let mech = args.get(4).map(String::as_str).unwrap_or("aim");
    let rows: Option<usize> = args.get(5).map(|s| s.parse()).transpose()?;
    let (mut table, domain) = load(set)?;
    if let Some(r) = rows {
        table = subsample(&table, r);
    }
    let oracle = InMemoryOracle::new(&table);
    let budget = Budget::from_epsilon_delta(Epsilon::new(eps)?, Delta::new(1e-9)?)?;
    let spec = match mech {
        "mst" => MechanismSpec::Mst(MstOptions::default()),
        _ => MechanismSpec::Aim(AimOptions::default(), Workload::all_k_way(domain.len(), 3)),
    };
    let idx = |cols: &[String]| -> Clique {
        Clique::new(cols.iter().map(|c| domain.index_of(c).expect("a column")))
    };
    println!(
        "{set} ({} rows), {mech}, epsilon {eps}, {runs} runs",
        table.n_rows()
    );
    let (mut m_in, mut m_all, mut s_in) = (0usize, 0usize, 0usize);
    let (mut sel_in, mut sel_all) = (0usize, 0usize);
    // Every row's stated bound, by clique size: (covered, rows, sum of bounds).
    let mut rows_by_k: Vec<(usize, usize, f64)> = vec![(0, 0, 0.0); 8];
    let (mut u_est, mut u_true, mut u_logratio, mut u_within, mut u_n) = (0.0, 0.0, 0.0, 0, 0);
    let (mut me_est, mut me_true, mut me_n) = (0.0, 0.0, 0);
    let mut warned = 0;
    let final_fit: Option<usize> = std::env::var("FINAL_FIT").ok().and_then(|v| v.parse().ok());
    let (mut ff_model, mut ff_long, mut ff_n) = (0.0, 0.0, 0usize);
    for run in 0..runs {
        let t = std::time::Instant::now();
        let mut fitted = fit(&oracle, budget, &spec, &NoProgress)?;
        let fit_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        fitted.assess(1000 + run as u64, 2)?;
        let assess_s = t.elapsed().as_secs_f64();
        let acc = fitted.accuracy.clone().expect("assessed");
        if !acc.warnings.is_empty() {
            warned += 1;
        }
        let (mut rin, mut rall) = (0, 0);
        for m in &acc.measured {
            let c = idx(&m.columns);
            let truth = oracle.marginal(&c)?;
            let ans = fitted.answer(&c)?;
            let l1: f64 = truth
                .values
                .iter()
                .zip(&ans.values)
                .map(|(a, b)| (a - b).abs())
                .sum();
            rall += 1;
            if l1 <= m.l1_bound {
                rin += 1;
            }
            if truth.l1_normalized(&ans) <= m.share_bound {
                s_in += 1;
            }
        }
        m_in += rin;
        m_all += rall;
        let (mut ue, mut ut, mut un) = (0.0, 0.0, 0);
        for row in &acc.cliques {
            let c = idx(&row.columns);
            let Some(est) = row.estimate else { continue };
            let truth = oracle.marginal(&c)?;
            let ans = fitted.answer(&c)?;
            let true_l1 = truth.l1_normalized(&ans);
            if let Some(b) = row.bound {
                let k = row.columns.len().min(rows_by_k.len() - 1);
                rows_by_k[k].1 += 1;
                rows_by_k[k].2 += b;
                if true_l1 <= b {
                    rows_by_k[k].0 += 1;
                }
            }
            if row.bound_method == Some(BoundMethod::Selection) && !row.measured {
                sel_all += 1;
                if true_l1 <= row.bound.unwrap_or(f64::INFINITY) {
                    sel_in += 1;
                }
            }
            if row.measured {
                me_est += est;
                me_true += true_l1;
                me_n += 1;
            } else {
                ue += est;
                ut += true_l1;
                un += 1;
                u_logratio += (est / true_l1.max(1e-12)).ln();
                if est <= 2.0 * true_l1 && true_l1 <= 2.0 * est {
                    u_within += 1;
                }
            }
        }
        if let Some(iters) = final_fit {
            let long = dpsynth::model::EstimationOptions {
                max_iters: iters,
                tol: 0.0,
                ..dpsynth::mechanism::bootstrap_estimation()
            };
            let (model, rep) = dpsynth::model::refit(&fitted.model, &fitted.measurements, &long)?;
            let mut longer = fitted.clone();
            longer.model = model;
            let (mut a, mut b, mut n) = (0.0, 0.0, 0);
            for row in &acc.cliques {
                let c = idx(&row.columns);
                let truth = oracle.marginal(&c)?;
                a += truth.l1_normalized(&fitted.answer(&c)?);
                b += truth.l1_normalized(&longer.answer(&c)?);
                n += 1;
            }
            println!(
                "  final fit: released model mean true L1 {:.4} (its fit: {} iterations, converged {}, loss {:.2}); {iters}-iteration fresh fit {:.4} (loss {:.2})",
                a / n as f64,
                fitted.estimation.iterations,
                fitted.estimation.converged,
                fitted.estimation.final_loss,
                b / n as f64,
                rep.final_loss
            );
            ff_model += a / n as f64;
            ff_long += b / n as f64;
            ff_n += 1;
        }
        u_est += ue;
        u_true += ut;
        u_n += un;
        println!(
            "run {run}: fit {fit_s:.1} s, error bars {assess_s:.1} s; measured bounds cover {rin}/{rall}; unmeasured: mean estimate {:.4} vs true {:.4} ({un} cliques); warnings {}",
            ue / un.max(1) as f64,
            ut / un.max(1) as f64,
            acc.warnings.len()
        );
    }
    println!(
        "measured marginals: count bound covers {m_in}/{m_all} = {:.3}; share bound covers {s_in}/{m_all} = {:.3}",
        m_in as f64 / m_all.max(1) as f64,
        s_in as f64 / m_all.max(1) as f64
    );
    println!(
        "measured cliques: mean estimate {:.4} vs mean true {:.4} ({me_n})",
        me_est / me_n.max(1) as f64,
        me_true / me_n.max(1) as f64
    );
    println!(
        "unmeasured cliques: mean estimate {:.4} vs mean true {:.4} (ratio of means {:.3}); geometric mean of estimate/true {:.3}; within a factor 2: {:.3} ({u_n})",
        u_est / u_n.max(1) as f64,
        u_true / u_n.max(1) as f64,
        u_est / u_true.max(1e-12),
        (u_logratio / u_n.max(1) as f64).exp(),
        u_within as f64 / u_n.max(1) as f64
    );
    println!(
        "selection bounds (unmeasured cliques whose best bound is the selection's): cover {sel_in}/{sel_all}"
    );
    for (k, (inn, all, sum)) in rows_by_k.iter().enumerate().filter(|(_, r)| r.1 > 0) {
        println!(
            "every {k}-way row with a bound: covers {inn}/{all}; mean stated bound {:.4}",
            sum / *all as f64
        );
    }
    println!("runs with warnings: {warned}/{runs}");
    if ff_n > 0 {
        println!(
            "final fit: mean true L1 over reported cliques, released {:.4} vs fresh long fit {:.4} ({ff_n} runs)",
            ff_model / ff_n as f64,
            ff_long / ff_n as f64
        );
    }
    Ok(())
}
