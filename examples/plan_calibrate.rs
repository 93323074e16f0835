//! How well `dpsynth plan` predicts real runs, and why it misses where it does (issue #15).
//! Release build recommended:
//!
//!   cargo run --release --example plan_calibrate -- stats adult,nist,ma,tx,salary,titanic
//!   cargo run --release --example plan_calibrate -- plan adult,nist 0.3,1,3 3 mst
//!   cargo run --release --example plan_calibrate -- errors nist 1 mst
//!
//! `stats`: for each data set and for the reference table of its domain and row count, the
//! one-ways' mean normalised entropy, the mean pairwise mutual information, the share of the
//! pairs' information a maximum spanning tree keeps, and the 3-way L1 of the best tree
//! (MST at epsilon 1000: the model's bias floor).
//! `plan`: simulated (the mechanism on reference tables, seeds 0..runs), predicted (the
//! plan's figure: simulated times the mechanism's structure term) and measured (the
//! mechanism on the data, runs seeds) mean 1-, 2- and 3-way L1 over all marginals, with
//! the seconds per simulated and per measured run. `DPSYNTH_MEASURE=0` skips measuring.
//! `errors`: which columns the measured 3-way error sits on.
//! The reference's knobs come from `DPSYNTH_REF_ZIPF`, `_LINK`, `_TRIPLE`, `_CLASSES`,
//! `_LATENT` (defaults: the plan's). The data are read here only to measure; the plan itself
//! never reads them.

use std::path::PathBuf;

use dpsynth::data::{read_csv, EncodedTable};
use dpsynth::marginal::{all_k_way, count, Clique, Domain, InMemoryOracle};
use dpsynth::mechanism::plan::{plan, reference_table, Reference};
use dpsynth::mechanism::{fit, AimOptions, MechanismSpec, MstOptions, NoProgress, Workload};
use dpsynth::model::SamplingMethod;
use dpsynth::privacy::{Budget, Delta, Epsilon};
use dpsynth::schema::Schema;

fn load(set: &str) -> anyhow::Result<(EncodedTable, Domain)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("../shared/data");
    let nist_schema = root.join("examples/nist/national2019.schema.toml");
    let (csv, schema) = match set {
        "adult" | "salary" | "titanic" => {
            let csv = data.join(format!("{set}/{set}.csv"));
            let s = Schema::from_path(&data.join(format!("{set}/{set}-domain.json")))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            (csv, s)
        }
        "nist" => (
            data.join("nist_crc/national2019.csv"),
            Schema::from_path(&nist_schema).map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        // The state excerpts with the national schema's PUMA list cut to the state's areas
        // (public: a PUMA code starts with its state's FIPS code, 25 MA, 48 TX).
        "ma" | "tx" => {
            let prefix = if set == "ma" { "\"25-" } else { "\"48-" };
            let text = std::fs::read_to_string(&nist_schema)?;
            let mut out = String::new();
            let mut in_puma = false;
            for line in text.lines() {
                if line.starts_with("name = ") {
                    in_puma = line == "name = \"PUMA\"";
                }
                if in_puma && line.starts_with("values = [") {
                    let keep: Vec<&str> = line["values = [".len()..line.len() - 1]
                        .split(", ")
                        .filter(|v| v.starts_with(prefix))
                        .collect();
                    out.push_str(&format!("values = [{}]\n", keep.join(", ")));
                } else if in_puma && line.starts_with("labels = [") {
                    continue;
                } else {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            (
                data.join(format!("nist_crc/{set}2019.csv")),
                Schema::from_toml_str(&out, set).map_err(|e| anyhow::anyhow!("{e}"))?,
            )
        }
        other => anyhow::bail!("unknown data set {other}"),
    };
    let (table, _) = read_csv(&csv, &schema)?;
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    Ok((table, domain))
}

fn reference_from_env() -> Reference {
    let mut r = Reference::default();
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
    if let Some(v) = env("DPSYNTH_REF_ZIPF") {
        r.zipf_exponent = v;
    }
    if let Some(v) = env("DPSYNTH_REF_LINK") {
        r.link_probability = v;
    }
    if let Some(v) = env("DPSYNTH_REF_TRIPLE") {
        r.triple_share = v;
    }
    if let Some(v) = env("DPSYNTH_REF_CLASSES") {
        r.classes = v as usize;
    }
    if let Some(v) = env("DPSYNTH_REF_LATENT") {
        r.latent_share = v;
    }
    r
}

fn spec(mech: &str, domain: &Domain) -> MechanismSpec {
    match mech {
        "mst" => MechanismSpec::Mst(MstOptions::default()),
        _ => MechanismSpec::Aim(AimOptions::default(), Workload::all_k_way(domain.len(), 3)),
    }
}

fn budget(eps: f64) -> anyhow::Result<Budget> {
    Ok(Budget::from_epsilon_delta(
        Epsilon::new(eps)?,
        Delta::new(1e-9)?,
    )?)
}

fn shares(t: &EncodedTable, d: &Domain, c: &Clique) -> Vec<f64> {
    let m = count(t, d, c);
    let n = m.total().max(1.0);
    m.values.iter().map(|v| v / n).collect()
}

fn entropy(p: &[f64]) -> f64 {
    p.iter().filter(|&&x| x > 0.0).map(|&x| -x * x.ln()).sum()
}

/// Mean normalised one-way entropy, mean pairwise MI (nats), the share of the pairs' MI a
/// maximum spanning tree holds, and the MI of the strongest pair per column (mean).
fn structure(t: &EncodedTable, d: &Domain) -> (f64, f64, f64) {
    let k = d.len();
    let h: Vec<f64> = (0..k)
        .map(|a| entropy(&shares(t, d, &Clique::new([a]))))
        .collect();
    let hn = (0..k)
        .filter(|&a| d.size(a) > 1)
        .map(|a| h[a] / (d.size(a) as f64).ln())
        .sum::<f64>()
        / k as f64;
    let mut mi = vec![vec![0.0; k]; k];
    let mut total = 0.0;
    for c in all_k_way(k, 2) {
        let (a, b) = (c.attrs()[0], c.attrs()[1]);
        let v = h[a] + h[b] - entropy(&shares(t, d, &c));
        mi[a][b] = v;
        mi[b][a] = v;
        total += v;
    }
    // Prim's maximum spanning tree.
    let mut inside = vec![false; k];
    inside[0] = true;
    let mut tree = 0.0;
    for _ in 1..k {
        let mut best = (f64::MIN, 0);
        for a in (0..k).filter(|&a| inside[a]) {
            for b in (0..k).filter(|&b| !inside[b]) {
                if mi[a][b] > best.0 {
                    best = (mi[a][b], b);
                }
            }
        }
        inside[best.1] = true;
        tree += best.0;
    }
    let pairs = (k * (k - 1) / 2) as f64;
    (hn, total / pairs, tree / total.max(1e-12))
}

fn run_once(
    t: &EncodedTable,
    d: &Domain,
    eps: f64,
    mech: &str,
    seed: u64,
) -> anyhow::Result<EncodedTable> {
    let oracle = InMemoryOracle::new(t);
    let fitted = fit(&oracle, budget(eps)?, &spec(mech, d), &NoProgress)?;
    let cols = fitted.synthesize(t.n_rows(), seed, SamplingMethod::Rounding);
    let n = cols.first().map_or(0, Vec::len);
    let rows: Vec<Vec<u32>> = (0..n)
        .map(|r| cols.iter().map(|c| c[r]).collect())
        .collect();
    EncodedTable::from_rows(d.names().to_vec(), d.sizes().to_vec(), &rows)
        .ok_or_else(|| anyhow::anyhow!("codes out of range"))
}

fn three_way(real: &EncodedTable, synth: &EncodedTable, d: &Domain) -> Vec<(Clique, f64)> {
    k_way_cliques(real, synth, d, 3)
}

/// Every k-way marginal's L1 between the real and the synthetic table.
fn k_way(real: &EncodedTable, synth: &EncodedTable, d: &Domain, k: usize) -> Vec<f64> {
    k_way_cliques(real, synth, d, k)
        .into_iter()
        .map(|x| x.1)
        .collect()
}

fn k_way_cliques(
    real: &EncodedTable,
    synth: &EncodedTable,
    d: &Domain,
    k: usize,
) -> Vec<(Clique, f64)> {
    all_k_way(d.len(), k)
        .into_iter()
        .map(|c| {
            let e = count(real, d, &c).l1_normalized(&count(synth, d, &c));
            (c, e)
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("stats");
    let sets: Vec<String> = args
        .get(2)
        .map(String::as_str)
        .unwrap_or("adult,nist")
        .split(',')
        .map(String::from)
        .collect();
    let reference = reference_from_env();
    eprintln!("reference {reference:?}");
    match what {
        "stats" => {
            println!(
                "{:<8} {:>6} {:>3} | {:>7} {:>8} {:>6} {:>8} | {:>7} {:>8} {:>6} {:>8}",
                "data",
                "rows",
                "d",
                "H/logn",
                "meanMI",
                "tree",
                "floor3",
                "refH",
                "refMI",
                "tree",
                "floor3"
            );
            for set in &sets {
                let (t, d) = load(set)?;
                let r = reference_table(&d, t.n_rows(), reference, 0);
                let (h, mi, tr) = structure(&t, &d);
                let (rh, rmi, rtr) = structure(&r, &d);
                let floor = mean(
                    &three_way(&t, &run_once(&t, &d, 1000.0, "mst", 0)?, &d)
                        .iter()
                        .map(|x| x.1)
                        .collect::<Vec<_>>(),
                );
                let rfloor = mean(
                    &three_way(&r, &run_once(&r, &d, 1000.0, "mst", 0)?, &d)
                        .iter()
                        .map(|x| x.1)
                        .collect::<Vec<_>>(),
                );
                println!(
                    "{set:<8} {:>6} {:>3} | {h:>7.3} {mi:>8.4} {tr:>6.3} {floor:>8.4} | {rh:>7.3} {rmi:>8.4} {rtr:>6.3} {rfloor:>8.4}",
                    t.n_rows(),
                    d.len()
                );
            }
        }
        "plan" => {
            let eps: Vec<f64> = args
                .get(3)
                .map(String::as_str)
                .unwrap_or("1")
                .split(',')
                .map(|s| s.parse())
                .collect::<Result<_, _>>()?;
            let runs: u64 = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(3);
            let mechs: Vec<&str> = args
                .get(5)
                .map_or("mst", |s| s.as_str())
                .split(',')
                .collect();
            let measure = std::env::var("DPSYNTH_MEASURE").map_or(true, |v| v != "0");
            println!(
                "{:<8} {:<4} {:>5} {:>2} {:>9} {:>9} {:>9} {:>6} {:>6} {:>7} {:>7}  measured per run",
                "data", "mech", "eps", "k", "simulated", "predicted", "measured", "sim/m", "pred/m",
                "sim s", "meas s"
            );
            for set in &sets {
                let (t, d) = load(set)?;
                for &mech in &mechs {
                    for &e in &eps {
                        let start = std::time::Instant::now();
                        let row = plan(
                            &d,
                            t.n_rows(),
                            budget(e)?,
                            &spec(mech, &d),
                            reference,
                            runs as usize,
                            0,
                        )?;
                        let sim_s = start.elapsed().as_secs_f64() / runs as f64;
                        let ks: Vec<usize> = (1..=3).filter(|&k| k <= d.len()).collect();
                        // per[k][run]
                        let mut per: Vec<Vec<f64>> = vec![Vec::new(); ks.len()];
                        let start = std::time::Instant::now();
                        if measure {
                            for s in 0..runs {
                                let syn = run_once(&t, &d, e, mech, s)?;
                                for (i, &k) in ks.iter().enumerate() {
                                    per[i].push(mean(&k_way(&t, &syn, &d, k)));
                                }
                            }
                        }
                        let meas_s = start.elapsed().as_secs_f64() / runs as f64;
                        for (i, &k) in ks.iter().enumerate() {
                            let get = |v: &[(usize, f64)]| {
                                v.iter().find(|(kk, _)| *kk == k).map_or(f64::NAN, |x| x.1)
                            };
                            let sim = get(&row.simulated_l1);
                            let pred = get(&row.predicted_l1);
                            let m = mean(&per[i]);
                            let p: Vec<String> = per[i].iter().map(|x| format!("{x:.4}")).collect();
                            println!(
                                "{set:<8} {mech:<4} {e:>5} {k:>2} {sim:>9.4} {pred:>9.4} {m:>9.4} {:>6.2} {:>6.2} {sim_s:>7.1} {meas_s:>7.1}  {}",
                                sim / m,
                                pred / m,
                                p.join(" ")
                            );
                        }
                    }
                }
            }
        }
        "errors" => {
            let e: f64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1.0);
            let mech = args.get(4).map_or("mst", |s| s.as_str());
            for set in &sets {
                let (t, d) = load(set)?;
                let r = reference_table(&d, t.n_rows(), reference, 0);
                for (name, tab) in [("data", &t), ("reference", &r)] {
                    let errs = three_way(tab, &run_once(tab, &d, e, mech, 0)?, &d);
                    let all = mean(&errs.iter().map(|x| x.1).collect::<Vec<_>>());
                    println!(
                        "{set} {name}: mean 3-way L1 {all:.4}; per column (triples containing it):"
                    );
                    let mut per: Vec<(f64, usize)> = (0..d.len())
                        .map(|a| {
                            let v: Vec<f64> = errs
                                .iter()
                                .filter(|(c, _)| c.attrs().contains(&a))
                                .map(|x| x.1)
                                .collect();
                            (mean(&v), a)
                        })
                        .collect();
                    per.sort_by(|x, y| y.0.total_cmp(&x.0));
                    let line: Vec<String> = per
                        .iter()
                        .map(|(v, a)| format!("{}({}) {v:.3}", d.names()[*a], d.size(*a)))
                        .collect();
                    println!("  {}", line.join(", "));
                }
            }
        }
        other => anyhow::bail!("unknown command {other} (stats, plan, errors)"),
    }
    Ok(())
}
