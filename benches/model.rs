//! Graphical-model engine benchmarks on adult (release build):
//! - `fit/mst_adult`: estimation from 15 noisy one-way and 14 noisy spanning-tree two-way
//!   marginals (sigma 40, about MST's scale at epsilon 1), default options;
//! - `sample/100k_*`: 100,000 records from that model, both methods;
//! - `project_many/455_three_way`: model marginals of every three-way clique (AIM's
//!   candidate scoring), half of them spanning several tree cliques.
//!
//! - `error_bars/adult_x200_mst`: the error bars' bootstrap (2 replicates, all 1- and 2-way
//!   marginals) of that model with every measurement scaled to 200 copies of adult (9.77
//!   million records, issue #16): drawn as count tables, so it costs what adult's does.
//!
//! Run: `cargo bench --bench model`. Skips (prints why) when ../shared/data is missing.

use std::path::PathBuf;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use dpsynth::data::EncodedTable;
use dpsynth::marginal::{all_k_way, count, Clique, Domain};
use dpsynth::model::{
    estimate, sample, EstimationOptions, GraphicalModel, Measurement, SamplingMethod,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn load_adult() -> Option<(EncodedTable, Domain)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/adult");
    let dom: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join("adult-domain.json")).ok()?)
            .ok()?;
    let mut rdr = csv::Reader::from_path(root.join("adult.csv")).ok()?;
    let names: Vec<String> = rdr.headers().ok()?.iter().map(String::from).collect();
    let sizes: Vec<usize> = names
        .iter()
        .map(|n| dom[n].as_u64().map(|v| v as usize))
        .collect::<Option<_>>()?;
    let rows: Vec<Vec<u32>> = rdr
        .records()
        .map(|r| {
            r.ok().and_then(|r| {
                r.iter()
                    .map(|v| v.parse().ok())
                    .collect::<Option<Vec<u32>>>()
            })
        })
        .collect::<Option<_>>()?;
    let table = EncodedTable::from_rows(names.clone(), sizes.clone(), &rows)?;
    Some((table, Domain::new(names, sizes)))
}

/// Maximum spanning tree by empirical mutual information (MST's choice without noise).
fn mi_tree(table: &EncodedTable, domain: &Domain) -> Vec<Clique> {
    let n = domain.len();
    let total = table.n_rows() as f64;
    let mut edges: Vec<(f64, Clique)> = all_k_way(n, 2)
        .into_iter()
        .map(|c| {
            let j = count(table, domain, &c);
            let (a, b) = (c.attrs()[0], c.attrs()[1]);
            let (pa, pb) = (j.project(&Clique::new([a])), j.project(&Clique::new([b])));
            let sb = domain.size(b);
            let mi: f64 = j
                .values
                .iter()
                .enumerate()
                .filter(|(_, &v)| v > 0.0)
                .map(|(i, &v)| {
                    v / total * (v * total / (pa.values[i / sb] * pb.values[i % sb])).ln()
                })
                .sum();
            (mi, c)
        })
        .collect();
    edges.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut comp: Vec<usize> = (0..n).collect();
    let mut out = Vec::new();
    for (_, c) in edges {
        let (a, b) = (comp[c.attrs()[0]], comp[c.attrs()[1]]);
        if a != b {
            comp.iter_mut().filter(|x| **x == b).for_each(|x| *x = a);
            out.push(c);
        }
    }
    out
}

fn mst_measurements(table: &EncodedTable, domain: &Domain) -> Vec<Measurement> {
    let mut cliques: Vec<Clique> = (0..domain.len()).map(|a| Clique::new([a])).collect();
    cliques.extend(mi_tree(table, domain));
    let sigma = 40.0;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    cliques
        .into_iter()
        .map(|c| {
            let mut v = count(table, domain, &c).values;
            for x in &mut v {
                // Box-Muller; benchmark noise only.
                let u: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
                *x += sigma
                    * (-2.0 * u.ln()).sqrt()
                    * (std::f64::consts::TAU * rng.gen::<f64>()).cos();
            }
            Measurement::new(c, v, sigma)
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let Some((table, domain)) = load_adult() else {
        println!("skipped: ../shared/data/adult not found");
        return;
    };
    let ms = mst_measurements(&table, &domain);
    let opts = EstimationOptions::default();
    let t = Instant::now();
    let (model, report) = estimate(&domain, &ms, &opts, None).expect("fit");
    println!(
        "fit once: {:?}, {} iterations, {} calibrations, loss {:.2} (start {:.2}), converged {}, {} cells",
        t.elapsed(),
        report.iterations,
        report.calibrations,
        report.final_loss,
        report.losses[0],
        report.converged,
        model.size_cells()
    );
    let mut g = c.benchmark_group("fit");
    g.sample_size(10);
    g.bench_function("mst_adult", |b| {
        b.iter(|| estimate(&domain, &ms, &opts, None).expect("fit"))
    });
    g.finish();

    let mut g = c.benchmark_group("sample");
    g.sample_size(20);
    for (name, method) in [
        ("100k_rounding", SamplingMethod::Rounding),
        ("100k_forward", SamplingMethod::Forward),
    ] {
        g.bench_function(name, |b| b.iter(|| sample(&model, 100_000, 7, method)));
    }
    g.finish();

    let cands = all_k_way(domain.len(), 3);
    let fresh = || -> GraphicalModel {
        serde_json::from_str(&serde_json::to_string(&model).expect("json")).expect("json")
    };
    let mut g = c.benchmark_group("project_many");
    g.sample_size(10);
    g.bench_function("455_three_way", |b| {
        b.iter_batched(
            fresh,
            |m| m.project_many(&cands),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn error_bars(c: &mut Criterion) {
    use dpsynth::model::accuracy::{bootstrap_errors, uniform_cell_sd, BootstrapOptions, Identity};
    let Some((table, domain)) = load_adult() else {
        println!("skipped: ../shared/data/adult not found");
        return;
    };
    let ms: Vec<Measurement> = mst_measurements(&table, &domain)
        .into_iter()
        .map(|m| {
            Measurement::new(
                m.clique,
                m.values.iter().map(|v| v * 200.0).collect(),
                m.sigma,
            )
        })
        .collect();
    let (model, _) = estimate(&domain, &ms, &EstimationOptions::default(), None).expect("fit");
    let mut cliques = all_k_way(domain.len(), 1);
    cliques.extend(all_k_way(domain.len(), 2));
    let sd = uniform_cell_sd(&ms);
    let opts = BootstrapOptions {
        replicates: 2,
        seed: 7,
        estimation: dpsynth::mechanism::bootstrap_estimation(),
        answer_sample: dpsynth::model::accuracy::ANSWER_SAMPLE_FACTOR,
    };
    let mut g = c.benchmark_group("error_bars");
    g.sample_size(10);
    g.bench_function("adult_x200_mst", |b| {
        b.iter(|| {
            bootstrap_errors(&model, &ms, &sd, &Identity(&domain), &cliques, &opts)
                .expect("bootstrap")
        })
    });
    g.finish();
}

criterion_group!(model_benches, benches, error_bars);
criterion_main!(model_benches);
