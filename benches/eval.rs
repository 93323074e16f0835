//! Evaluating adult (48,842 rows) against a same-size synthetic stand-in (the independence
//! baseline: each column shuffled by a seeded permutation) with all 455 three-way marginals,
//! TSTR on income and the default DCR sample (5,000 synthetic and 5,000 holdout records, each
//! against all 24,421 training-half records). Target: under 5 s in a release build.
//!
//! `cargo bench --bench eval`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use dpsynth::eval::{evaluate, independent_baseline, EvalOptions};

fn bench(c: &mut Criterion) {
    let Some((real, domain)) = common::load_coded("adult") else {
        return;
    };
    let synthetic = independent_baseline(&real, 1);
    let opts = EvalOptions {
        target: domain.index_of("income>50K"),
        ..EvalOptions::default()
    };
    // One run up front to print where the time goes.
    let report = evaluate(&real, &synthetic, &domain, &opts).expect("adult evaluates");
    let m3 = &report.fidelity.marginals[2];
    assert_eq!(m3.evaluated, 455);
    eprintln!("phases (ms): {:?}", report.timings);
    let mut g = c.benchmark_group("eval");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("adult_all_3way_dcr5000_tstr", |b| {
        b.iter(|| evaluate(&real, &synthetic, &domain, &opts).expect("adult evaluates"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
