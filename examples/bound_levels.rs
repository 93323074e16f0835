//! How tight and how well covered `accuracy.json`'s stated bounds are under the ways of
//! spending one failure probability over several bounds (proofs/accuracy.md, "One level
//! for several bounds"), on the same fitted models:
//!
//! - `old`: before session 12, the smallest of the clique's own measured and selection
//!   bounds and every reported superset's, each at the full level `alpha_m = 0.04`, plus the
//!   former expansion term (each merged group's noisy count plus a normal quantile of its
//!   noise, `alpha_m` split over the groups) (not proven at 95%);
//! - `a`: the same minimum, each source at `0.036 / J(c)` with `J(c) = 2 (1 + supersets)`;
//! - `b`: the release's rule (`accuracy::Levels`, `chosen_superset`): the clique's own two
//!   and one public superset's two, each at `0.036 / 4` (`/ 2` without a superset);
//! - `own`: the clique's own two only, at `0.036 / 2` (no inheritance).
//!
//! `a`, `b` and `own` add the current expansion term at `0.004`; all use the total at
//! `0.01`.
//!
//!   cargo run --release --example bound_levels -- adult 1 3 [aim|mst]
//!
//! Prints per clique size the median and largest stated bound of each rule, the median
//! ratio to `old`, and how many rows each covers (true L1 of the released model).

use dpsynth::marginal::{all_k_way, Clique, InMemoryOracle, MarginalOracle};
use dpsynth::mechanism::Fitted;
use dpsynth::mechanism::{fit, AimOptions, MechanismSpec, MstOptions, NoProgress, Workload};
use dpsynth::model::accuracy::{
    chosen_superset, normal_upper_quantile, share_bound, total_estimate, Levels, Sources,
};
use dpsynth::privacy::{Budget, Delta, Epsilon};
#[path = "common/data.rs"]
mod data;
use data::load;

const RULES: [&str; 4] = ["old", "a", "b", "own"];

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The expansion term before session 12: `2 sum_g max(0, y_g + z sd_g)` over the merged
/// groups of the clique's attributes, `z` the normal quantile at `alpha / groups` (the
/// model's own one-way of each attribute: its first one-way measurement).
fn former_expansion(fitted: &Fitted, c: &Clique, alpha: f64) -> f64 {
    let sd = fitted.cell_sd();
    let decoded = fitted.compression.groups_after_decoding();
    let mut groups = Vec::new();
    for &a in c.attrs() {
        let Some(i) = fitted
            .measurements
            .iter()
            .position(|m| m.clique.attrs() == [a])
        else {
            continue;
        };
        for (k, g) in decoded[a].iter().enumerate() {
            if g.len() > 1 {
                groups.push((fitted.measurements[i].values[k], sd[i][k]));
            }
        }
    }
    if groups.is_empty() {
        return 0.0;
    }
    let z = normal_upper_quantile(alpha / groups.len() as f64);
    groups.iter().map(|(y, s)| 2.0 * (y + z * s).max(0.0)).sum()
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
            let alpha_m = levels.sources + levels.expansion;
            let total = total_estimate(model, inputs.cell_sd, levels.total);
            let sources: Vec<Sources> = cliques
                .iter()
                .map(|c| Sources::of(model, inputs, c))
                .collect();
            let best = |s: &Sources, alpha: f64| -> Option<f64> {
                let (m, sel) = s.at(model, inputs, alpha);
                [m, sel.map(|x| x.0)].into_iter().flatten().reduce(f64::min)
            };
            cliques
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let sups: Vec<usize> = (0..cliques.len())
                        .filter(|&j| cliques[j].len() > c.len() && c.is_subset_of(&cliques[j]))
                        .collect();
                    let min_over = |alpha: f64, with: &[usize]| -> Option<f64> {
                        std::iter::once(best(&sources[i], alpha))
                            .chain(with.iter().map(|&j| best(&sources[j], alpha)))
                            .flatten()
                            .reduce(f64::min)
                    };
                    let x_old = former_expansion(&fitted, c, alpha_m);
                    let x_new = inputs.map.expansion_bound(c, levels.expansion);
                    let old = min_over(alpha_m, &sups).map(|b| b + x_old);
                    let j_a = 2 * (1 + sups.len());
                    let a = min_over(levels.per_source(j_a), &sups).map(|b| b + x_new);
                    let chosen: Vec<usize> = chosen_superset(c, &cliques, &inputs.public_sizes)
                        .map(|s| cliques.iter().position(|x| x == s).expect("reported"))
                        .into_iter()
                        .collect();
                    let j_b = if chosen.is_empty() { 2 } else { 4 };
                    let b = min_over(levels.per_source(j_b), &chosen).map(|b| b + x_new);
                    let own = min_over(levels.per_source(2), &[]).map(|b| b + x_new);
                    let share = |b: Option<f64>| b.map(|b| share_bound(b, &total));
                    [share(old), share(a), share(b), share(own)]
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
                "{k}-way {name:>3}: {n} rows, median {:.4}, max {:.4}, median ratio to old {:.3}, covers {}/{n}",
                median(&mut bounds[k][r]),
                max,
                median(&mut ratios[k][r]),
                covered[k][r]
            );
        }
    }
    Ok(())
}
