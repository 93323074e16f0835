//! Exact counts equal a brute-force count on adult for every 1-, 2- and 3-way clique.

mod common;

use dpsynth::marginal::{all_k_way, count, InMemoryOracle, MarginalOracle};

#[test]
fn counts_match_brute_force_on_adult() {
    let Some((table, domain)) = common::load_coded("adult") else { return };
    let oracle = InMemoryOracle::new(&table);
    let rows: Vec<Vec<u32>> = (0..table.n_rows()).map(|r| table.row(r)).collect();
    for k in 1..=3 {
        for clique in all_k_way(domain.len(), k) {
            let fast = oracle.marginal(&clique).unwrap();
            let shape = clique.shape(&domain);
            let mut brute = vec![0f64; fast.cells()];
            for row in &rows {
                let mut idx = 0usize;
                for (&a, &s) in clique.attrs().iter().zip(&shape) {
                    idx = idx * s + row[a] as usize;
                }
                brute[idx] += 1.0;
            }
            assert_eq!(fast.values, brute, "clique {clique:?}");
            assert_eq!(count(&table, &domain, &clique).total(), table.n_rows() as f64);
        }
    }
}
