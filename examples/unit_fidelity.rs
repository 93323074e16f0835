//! What a privacy unit costs in fidelity (issue #12): adult's rows grouped into synthetic
//! "persons" of 1 to 5 rows, released with a unit of K = 1, 2, 5 rows at epsilon 1, mean 3-way
//! L1 against the whole real table. Release build recommended:
//!
//!   cargo run --release --example unit_fidelity -- 1,2,5 5 mst,aim
//!
//! Arguments: the K values, runs per cell, mechanisms.
//!
//! The construction is public and fixed: adult's 48,842 rows are shuffled with ChaCha20
//! seeded by 2026, then cut, in that order, into persons whose sizes are drawn i.i.d. from
//! P(1) = 0.35, P(2) = 0.25, P(3) = 0.20, P(4) = 0.12, P(5) = 0.08 (the same generator). A
//! person's rows are therefore a random sample of adult: truncation to K rows drops rows at
//! random and costs fidelity only through fewer rows and K times the noise, not through bias.
//! (Real persons' rows are alike, which changes what truncation keeps; this measures the
//! noise and sample-size cost alone.)
//!
//! Each run truncates with the CSPRNG as a release does, fits with the unit, samples the
//! model's noisy total with the rounding sampler, and compares with all of adult. The first
//! line of each mechanism is the record-level release of the same data (no unit: a weaker
//! guarantee for persons, shown as the reference).

use std::path::PathBuf;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use dpsynth::data::{read_csv, truncate_units, EncodedTable, UnitIds, UnitProfile};
use dpsynth::eval::{evaluate, EvalOptions};
use dpsynth::marginal::{Domain, InMemoryOracle};
use dpsynth::mechanism::{fit, AimOptions, MechanismSpec, MstOptions, NoProgress, Workload};
use dpsynth::model::SamplingMethod;
use dpsynth::privacy::{secure_rng, Budget, Delta, Epsilon, PrivacyUnit};
use dpsynth::schema::Schema;

/// Person sizes 1..=5 and their probabilities (the documented construction).
const SIZES: [(u32, f64); 5] = [(1, 0.35), (2, 0.25), (3, 0.20), (4, 0.12), (5, 0.08)];

/// Assigns every row a person: shuffled rows cut into persons of random size.
fn persons(n: usize) -> UnitIds {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let mut order: Vec<usize> = (0..n).collect();
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
    let mut ids = vec![0u32; n];
    let (mut at, mut person) = (0usize, 0u32);
    while at < n {
        let u: f64 = rng.gen();
        let mut acc = 0.0;
        let mut size = 5;
        for (s, p) in SIZES {
            acc += p;
            if u < acc {
                size = s;
                break;
            }
        }
        for &row in &order[at..(at + size as usize).min(n)] {
            ids[row] = person;
        }
        at += size as usize;
        person += 1;
    }
    UnitIds::from_indices(ids)
}

fn three_way_l1(
    fitted: &dpsynth::mechanism::Fitted,
    real: &EncodedTable,
    domain: &Domain,
    seed: u64,
) -> anyhow::Result<f64> {
    let cols = fitted.synthesize(fitted.default_rows(), seed, SamplingMethod::Rounding);
    let n = cols.first().map_or(0, |c| c.len());
    let rows: Vec<Vec<u32>> = (0..n)
        .map(|r| cols.iter().map(|c| c[r]).collect())
        .collect();
    let synth = EncodedTable::from_rows(domain.names().to_vec(), domain.sizes().to_vec(), &rows)
        .ok_or_else(|| anyhow::anyhow!("codes out of range"))?;
    let opts = EvalOptions {
        dcr_sample: 0,
        ..EvalOptions::default()
    };
    let rep = evaluate(real, &synth, domain, &opts)?;
    Ok(rep
        .fidelity
        .marginals
        .iter()
        .find(|m| m.k == 3)
        .map_or(f64::NAN, |m| m.mean_l1))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let ks: Vec<u32> = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("1,2,5")
        .split(',')
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let runs: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let mechs: Vec<String> = args
        .get(3)
        .map(|s| s.split(',').map(String::from).collect())
        .unwrap_or_else(|| vec!["mst".into(), "aim".into()]);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let schema = Schema::from_path(&root.join("../shared/data/adult/adult-domain.json"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (table, _) = read_csv(&root.join("../shared/data/adult/adult.csv"), &schema)?;
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    let units = persons(table.n_rows());
    let profile = UnitProfile::new(&units);
    let with_units = table
        .clone()
        .with_units(units)
        .ok_or_else(|| anyhow::anyhow!("unit count"))?;
    println!(
        "adult grouped into {} persons of 1-5 rows ({} rows); rows kept by K: {}",
        profile.units(),
        profile.rows(),
        ks.iter()
            .map(|&k| format!(
                "K={k} {:.1}%",
                100.0 * (1.0 - profile.dropped_share(k as u64))
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let budget = Budget::from_epsilon_delta(Epsilon::new(1.0)?, Delta::new(1e-9)?)?;
    println!(
        "{:<5} {:<8} {:>10} {:>9}  per run",
        "mech", "unit", "3-way L1", "time s"
    );
    for mech in &mechs {
        let mut cells: Vec<Option<u32>> = vec![None];
        cells.extend(ks.iter().map(|&k| Some(k)));
        for k in cells {
            let unit = match k {
                None => PrivacyUnit::Record,
                Some(k) => PrivacyUnit::column("person", k)?,
            };
            let mut spec = match mech.as_str() {
                "mst" => MechanismSpec::Mst(MstOptions::default()),
                _ => {
                    MechanismSpec::Aim(AimOptions::default(), Workload::all_k_way(domain.len(), 3))
                }
            };
            spec.set_unit(unit.clone());
            let (mut errs, mut secs) = (Vec::new(), Vec::new());
            for run in 0..runs {
                let t = Instant::now();
                let data = match k {
                    None => table.clone(),
                    Some(k) => truncate_units(&with_units, k, &mut secure_rng()?)?,
                };
                let oracle = InMemoryOracle::new(&data);
                let fitted = fit(&oracle, budget, &spec, &NoProgress)?;
                secs.push(t.elapsed().as_secs_f64());
                errs.push(three_way_l1(&fitted, &table, &domain, run)?);
            }
            let mean = errs.iter().sum::<f64>() / errs.len() as f64;
            let t = secs.iter().sum::<f64>() / secs.len() as f64;
            let per: Vec<String> = errs.iter().map(|e| format!("{e:.4}")).collect();
            let label = k.map_or("record".to_string(), |k| format!("K = {k}"));
            println!(
                "{:<5} {:<8} {:>10.4} {:>9.1}  {}",
                mech,
                label,
                mean,
                t,
                per.join(" ")
            );
        }
    }
    Ok(())
}
