//! Counting all 105 two-way marginals of adult, one clique at a time (`count`) and all together
//! (`count_many`, the in-memory oracle's prefetch). Issue #16 target: >= 500 M row-clique
//! updates/s.
//! Run: `cargo bench --bench counting`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dpsynth::marginal::{all_k_way, count, count_many};

#[path = "../tests/common/mod.rs"]
mod common;

fn two_way_adult(c: &mut Criterion) {
    let Some((table, domain)) = common::load_coded("adult") else {
        return;
    };
    let cliques = all_k_way(domain.len(), 2);
    let updates = (table.n_rows() * cliques.len()) as u64;
    let mut g = c.benchmark_group("counting");
    g.throughput(Throughput::Elements(updates));
    g.bench_function("adult_all_2way", |b| {
        b.iter(|| {
            cliques
                .iter()
                .map(|cl| count(&table, &domain, cl).values[0])
                .sum::<f64>()
        })
    });
    // The same marginals asked together, as mechanisms do through the oracle's prefetch:
    // on a table this small, one clique per thread.
    g.bench_function("adult_all_2way_together", |b| {
        b.iter(|| {
            count_many(&table, &domain, &cliques)
                .iter()
                .map(|t| t.values[0])
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, two_way_adult);
criterion_main!(benches);
