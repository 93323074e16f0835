//! How tight and how well covered `accuracy.json`'s stated bounds are, on the same fitted
//! models, under:
//!
//! - `s12`: session 12's rule (accuracy.json version 2): the clique's own measured and
//!   selection bounds and one public superset's (`chosen_superset`), each at
//!   `0.036 / J` (`J` = 4, or 2 without a superset), the measured bound treating the
//!   inverse-variance combination of the measurements containing the clique as a fixed
//!   Gaussian (not proven: AIM and MST choose those measurements from earlier noise), and
//!   the total's normal interval;
//! - `b`: the release's rule (version 3): the same sources and levels, the measured bound
//!   valid for adaptively chosen measurements (`accuracy::adaptive_l1_bound`,
//!   `MeasuredSource`) and the total's interval likewise (proofs/accuracy.md);
//! - `own`: `b` without the superset (the clique's own two at `0.036 / 2`).
//!
//! All add the expansion term at `0.004`; the total is at `0.01`.
//!
//!   cargo run --release --example bound_levels -- adult 1 3 [aim|mst]
//!
//! Prints per clique size the median and largest stated bound of each rule, the median
//! ratio to `s12`, and how many rows each covers (true L1 of the released model).

use dpsynth::marginal::{all_k_way, Clique, InMemoryOracle, MarginalOracle};
use dpsynth::mechanism::{fit, AimOptions, MechanismSpec, MstOptions, NoProgress, Workload};
use dpsynth::model::accuracy::{
    chosen_superset, combine_supported, noise_l1_quantile, normal_upper_quantile, share_bound,
    total_estimate, Levels, Sources, TotalEstimate,
};
use dpsynth::privacy::{Budget, Delta, Epsilon};
#[path = "common/data.rs"]
mod data;
use data::load;

const RULES: [&str; 3] = ["s12", "b", "own"];

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let set = args.get(1).map(String::as_str).unwrap_or("adult");
    let eps: f64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1.0);
    let runs: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let mech = args.get(4).map(String::as_str).unwrap_or("aim");
    let (table, domain) = load(set)?;
    let d = domain.len();
    let oracle = InMemoryOracle::new(&table);
    let budget = Budget::from_epsilon_delta(Epsilon::new(eps)?, Delta::new(1e-9)?)?;
    let spec = match mech {
        "mst" => MechanismSpec::Mst(MstOptions::default()),
        _ => MechanismSpec::Aim(AimOptions::default(), Workload::all_k_way(d, 3)),
    };
    // Per size and rule: stated bounds, ratios to old, covered rows.
    let kmax = 4;
    let mut bounds = vec![vec![Vec::<f64>::new(); RULES.len()]; kmax];
    let mut ratios = vec![vec![Vec::<f64>::new(); RULES.len()]; kmax];
    let mut covered = vec![vec![0usize; RULES.len()]; kmax];
    for run in 0..runs {
        let fitted = fit(&oracle, budget, &spec, &NoProgress)?;
        let mut cliques: Vec<Clique> = all_k_way(d, 1);
        cliques.extend(all_k_way(d, 2));
        cliques.extend(fitted.workload.iter().cloned());
        cliques.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
        cliques.dedup();
        let model = &fitted.model;
        let rows = fitted.with_report_inputs(|inputs| {
            let levels = Levels::new(inputs.confidence);
            let total = total_estimate(model, inputs.cell_sd, levels.total);
            let z = normal_upper_quantile(levels.total / 2.0);
            let total_s12 = TotalEstimate {
                interval: [
                    (total.estimate - z * total.sd).max(0.0),
                    total.estimate + z * total.sd,
                ],
                ..total.clone()
            };
            let sources: Vec<Sources> = cliques
                .iter()
                .map(|c| Sources::of(model, inputs, c))
                .collect();
            let best = |i: usize, alpha: f64| -> Option<f64> {
                let (m, sel) = sources[i].at(model, inputs, alpha);
                [m, sel.map(|x| x.0)].into_iter().flatten().reduce(f64::min)
            };
            // Session 12's measured bound: the combination as a fixed Gaussian.
            let best_s12 = |i: usize, alpha: f64| -> Option<f64> {
                let c = &cliques[i];
                let m = combine_supported(model.domain(), c, inputs.measurements, inputs.cell_sd)
                    .and_then(|sup| {
                        let ans = model.try_project(c).ok()?;
                        let fit: f64 = ans
                            .values
                            .iter()
                            .zip(&sup.values)
                            .map(|(a, y)| (a - y).abs())
                            .sum();
                        Some(fit + noise_l1_quantile(&sup.cell_sd, alpha))
                    });
                let sel = inputs.selection.bound(c, model.total(), alpha);
                [m, sel.map(|x| x.0)].into_iter().flatten().reduce(f64::min)
            };
            cliques
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let chosen: Option<usize> = chosen_superset(c, &cliques, &inputs.public_sizes)
                        .map(|s| cliques.iter().position(|x| x == s).expect("reported"));
                    let alpha = levels.per_source(if chosen.is_some() { 4 } else { 2 });
                    let min_over =
                        |f: &dyn Fn(usize, f64) -> Option<f64>, alpha: f64, sup: Option<usize>| {
                            std::iter::once(f(i, alpha))
                                .chain(sup.map(|j| f(j, alpha)))
                                .flatten()
                                .reduce(f64::min)
                        };
                    let x = inputs.map.expansion_bound(c, levels.expansion);
                    let s12 =
                        min_over(&best_s12, alpha, chosen).map(|b| share_bound(b + x, &total_s12));
                    let b = min_over(&best, alpha, chosen).map(|b| share_bound(b + x, &total));
                    let own = min_over(&best, levels.per_source(2), None)
                        .map(|b| share_bound(b + x, &total));
                    [s12, b, own]
                })
                .collect::<Vec<_>>()
        });
        for (c, stated) in cliques.iter().zip(rows) {
            let k = c.len().min(kmax - 1);
            let truth = oracle.marginal(c)?;
            let true_l1 = truth.l1_normalized(&fitted.answer(c)?);
            for (r, b) in stated.iter().enumerate() {
                if let Some(b) = b {
                    bounds[k][r].push(*b);
                    if true_l1 <= *b {
                        covered[k][r] += 1;
                    }
                    if let Some(o) = stated[0] {
                        ratios[k][r].push(b / o);
                    }
                }
            }
        }
        eprintln!("run {run} done");
    }
    println!("{set}, {mech}, epsilon {eps}, {runs} run(s): stated bounds (shares) by rule");
    for k in 1..kmax {
        for (r, name) in RULES.iter().enumerate() {
            let n = bounds[k][r].len();
            if n == 0 {
                continue;
            }
            let max = bounds[k][r].iter().copied().fold(0.0, f64::max);
            println!(
                "{k}-way {name:>3}: {n} rows, median {:.4}, max {:.4}, median ratio to s12 {:.3}, covers {}/{n}",
                median(&mut bounds[k][r]),
                max,
                median(&mut ratios[k][r]),
                covered[k][r]
            );
        }
    }
    Ok(())
}
