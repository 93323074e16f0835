//! MST and AIM end to end on adult at epsilon 1, delta 1e-9 (issues #4 and #5): fit plus
//! sampling the noisy-total number of rows, as `dpsynth synth` does minus file writing.
//! Run: `cargo bench --bench mechanisms` (AIM takes tens of seconds per iteration, so it
//! uses criterion's minimum of 10 samples; `-- mst` runs MST alone).

use criterion::{criterion_group, criterion_main, Criterion};
use dpsynth::marginal::InMemoryOracle;
use dpsynth::mechanism::{aim, mst, AimOptions, MstOptions, NoProgress, Workload};
use dpsynth::model::SamplingMethod;
use dpsynth::privacy::{Budget, Delta, Epsilon};

#[path = "../tests/common/mod.rs"]
mod common;

fn budget() -> Budget {
    Budget::from_epsilon_delta(Epsilon::new(1.0).unwrap(), Delta::new(1e-9).unwrap()).unwrap()
}

fn mst_adult(c: &mut Criterion) {
    let Some((table, _)) = common::load_coded("adult") else {
        return;
    };
    let oracle = InMemoryOracle::new(&table);
    let mut g = c.benchmark_group("mechanism");
    g.sample_size(10);
    g.bench_function("mst_adult_eps1", |b| {
        b.iter(|| {
            let f = mst(&oracle, budget(), &MstOptions::default(), &NoProgress).unwrap();
            f.synthesize(f.default_rows(), 1, SamplingMethod::Rounding)
                .len()
        })
    });
    g.finish();
}

fn aim_adult(c: &mut Criterion) {
    let Some((table, domain)) = common::load_coded("adult") else {
        return;
    };
    let oracle = InMemoryOracle::new(&table);
    let workload = Workload::all_k_way(domain.len(), 3);
    let mut g = c.benchmark_group("mechanism");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(300));
    g.bench_function("aim_adult_eps1", |b| {
        b.iter(|| {
            let f = aim(
                &oracle,
                budget(),
                &workload,
                &AimOptions::default(),
                &NoProgress,
            )
            .unwrap();
            f.synthesize(f.default_rows(), 1, SamplingMethod::Rounding)
                .len()
        })
    });
    g.finish();
}

criterion_group!(benches, mst_adult, aim_adult);
criterion_main!(benches);
