//! AIM's budget properties over random workloads and budgets (issue #5): the ledger never
//! exceeds the budget, and the run ends having spent the budget to 1e-9 relative.

use dashu::rational::RBig;
use dpsynth::data::EncodedTable;
use dpsynth::marginal::{Clique, InMemoryOracle};
use dpsynth::mechanism::{aim, AimOptions, NoProgress, Workload};
use dpsynth::privacy::{Budget, Delta, Rho};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

fn random_table(seed: u64, sizes: &[usize], rows: usize) -> EncodedTable {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<Vec<u32>> = (0..rows)
        .map(|_| {
            // a little dependence: each column copies the previous one half of the time
            let mut row: Vec<u32> = Vec::with_capacity(sizes.len());
            for (i, &s) in sizes.iter().enumerate() {
                let v = if i > 0 && rng.gen_bool(0.5) {
                    row[i - 1] % s as u32
                } else {
                    rng.gen_range(0..s as u32)
                };
                row.push(v);
            }
            row
        })
        .collect();
    let names = (0..sizes.len()).map(|i| format!("c{i}")).collect();
    EncodedTable::from_rows(names, sizes.to_vec(), &data).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn aim_spends_exactly_its_budget(
        seed in any::<u64>(),
        sizes in prop::collection::vec(2usize..6, 3..6),
        rho in 0.001f64..5.0,
        picks in prop::collection::vec((any::<u32>(), 1usize..4, 0.5f64..3.0), 1..6),
        rounds in prop::option::of(2usize..20),
    ) {
        let table = random_table(seed, &sizes, 300);
        let d = sizes.len();
        let cliques: Vec<(Clique, f64)> = picks
            .iter()
            .map(|&(s, k, w)| {
                let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(s as u64);
                let attrs: Vec<usize> = (0..k.min(d)).map(|_| r.gen_range(0..d)).collect();
                (Clique::new(attrs), w)
            })
            .collect();
        let workload = Workload { cliques };
        let budget = Budget::from_rho(Rho::new(rho).unwrap(), Delta::new(1e-9).unwrap());
        let opts = AimOptions { rounds, ..AimOptions::default() };
        let fitted = aim(&InMemoryOracle::new(&table), budget, &workload, &opts, &NoProgress).unwrap();
        // Exact rational arithmetic on the charged values (issue #13, item 1).
        let mut running = RBig::ZERO;
        for e in &fitted.ledger {
            running += RBig::try_from(e.rho).unwrap();
            prop_assert!(running <= RBig::try_from(rho).unwrap(), "running total exceeds budget {}", rho);
        }
        prop_assert!(RBig::try_from(fitted.spent).unwrap() >= running);
        prop_assert!((rho - fitted.spent) / rho <= 1e-9, "spent {} of {}", fitted.spent, rho);
    }
}
