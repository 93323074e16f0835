//! AIM on adult at epsilon 1, delta 1e-9, all-three-way workload (issue #5): fidelity and
//! budget. About 15-30 s a run.

mod common;
#[path = "common/fidelity.rs"]
mod fidelity;

use dpsynth::marginal::InMemoryOracle;
use dpsynth::mechanism::{aim, AimOptions, NoProgress, Workload};
use dpsynth::model::SamplingMethod;
use dpsynth::privacy::{Budget, Delta, Epsilon, RhoSum};

/// Five runs: mean three-way L1 (normalised, all 455 triples). Issue #5's target is 0.13
/// (private-pgm's AIM with a two-way workload gave 0.160 here). Measured over 20 runs in four
/// 5-run batches: 0.1269, 0.1299, 0.1282, 0.1283 (per run 0.1226-0.1356), mean 0.1283. So the
/// target holds on average, but a 5-run mean exceeds 0.13 in about one batch in ten. The
/// assertion guards at 0.135, which a correct implementation fails with probability about
/// 3e-6 (4.5 standard errors); the shortfall is stated in the issue note, not hidden here.
#[test]
fn aim_adult_fidelity_and_budget() {
    let Some((table, domain)) = common::load_coded("adult") else {
        return;
    };
    let budget =
        Budget::from_epsilon_delta(Epsilon::new(1.0).unwrap(), Delta::new(1e-9).unwrap()).unwrap();
    let oracle = InMemoryOracle::new(&table);
    let workload = Workload::all_k_way(domain.len(), 3);
    let mut errors = Vec::new();
    for run in 0..5u64 {
        let fitted = aim(
            &oracle,
            budget,
            &workload,
            &AimOptions::default(),
            &NoProgress,
        )
        .unwrap();
        // The accountant's total is the exact sum of the charges, rounded up (issue #13 item 1).
        let exact = RhoSum::of(fitted.ledger.iter().map(|e| e.rho)).unwrap();
        let total = exact.upper();
        assert!(
            exact.within(budget.rho.value()),
            "exact total within the budget"
        );
        assert_eq!(total, fitted.spent);
        assert!(total <= budget.rho.value() && total >= budget.rho.value() * (1.0 - 1e-9));
        let cols = fitted.synthesize(fitted.default_rows(), run, SamplingMethod::Rounding);
        let synth = fidelity::table_from_columns(&domain, &cols);
        errors.push(fidelity::mean_k_way_l1(&table, &synth, &domain, 3));
    }
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    println!("AIM adult eps=1: mean 3-way L1 per run {errors:?}, mean {mean:.4}");
    assert!(
        mean <= 0.135,
        "mean three-way L1 {mean} above 0.135 (target 0.13)"
    );
}
