//! MST on adult at epsilon 1, delta 1e-9 (issue #4): fidelity, ledger and row count.

mod common;
#[path = "common/fidelity.rs"]
mod fidelity;

use dpsynth::marginal::InMemoryOracle;
use dpsynth::mechanism::{mst, MstOptions, NoProgress};
use dpsynth::model::SamplingMethod;
use dpsynth::privacy::{epsilon_for, Budget, Delta, Epsilon, Rho, RhoSum};

/// Ten independent runs: mean three-way L1 (normalised, all 455 triples) averaged over the
/// runs. Issue #21's target is 0.180 over 30 runs (dpmm's MST gave 0.179 here). Measured
/// after issue #21 (noise-relative early stop of the final fit, stratified rounding): mean
/// 0.1774 over 30 runs, per-run sd about 0.0045 (two groups, by which of two nearly tied
/// edges the private tree takes), so a 10-run mean has standard error about 0.0014. The
/// assertion guards at 0.182, which a correct implementation fails with probability about
/// 5e-4 (3.3 standard errors); before issue #21 the 30-run mean was 0.1807, which this
/// guard catches in about one batch in four, a larger regression almost always.
/// Also per run: the ledger sums to what the accountant spent, within budget, and the row
/// count estimate is noisy.
#[test]
fn mst_adult_fidelity_and_ledger() {
    let Some((table, domain)) = common::load_coded("adult") else {
        return;
    };
    let budget =
        Budget::from_epsilon_delta(Epsilon::new(1.0).unwrap(), Delta::new(1e-9).unwrap()).unwrap();
    let oracle = InMemoryOracle::new(&table);
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    for run in 0..10u64 {
        let fitted = mst(&oracle, budget, &MstOptions::default(), &NoProgress).unwrap();
        // The accountant's total is the exact sum of the charges, rounded up (issue #13 item 1).
        let exact = RhoSum::of(fitted.ledger.iter().map(|e| e.rho)).unwrap();
        let total = exact.upper();
        assert!(
            exact.within(budget.rho.value()),
            "exact total within the budget"
        );
        assert_eq!(
            total, fitted.spent,
            "ledger sum equals the accountant's total"
        );
        assert!(total <= budget.rho.value());
        assert!(
            total >= budget.rho.value() * (1.0 - 1e-9),
            "MST spends its budget: {total}"
        );
        let eps = epsilon_for(Rho::new(total).unwrap(), budget.delta)
            .unwrap()
            .value();
        assert!(eps <= 1.0 + 1e-9, "stated epsilon {eps} within the asked 1");
        // one-ways (15) + selections (14) + edges (14)
        assert_eq!(fitted.ledger.len(), 15 + 14 + 14);
        let n = fitted.default_rows();
        rows.push(n);
        let synth = fitted.synthesize(n, run, SamplingMethod::default());
        let synth = fidelity::table_from_columns(&domain, &synth);
        errors.push(fidelity::mean_k_way_l1(&table, &synth, &domain, 3));
    }
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    println!("MST adult eps=1: mean 3-way L1 per run {errors:?}, mean {mean:.4}; rows {rows:?}");
    assert!(
        mean <= 0.182,
        "mean three-way L1 {mean} above 0.182 (target 0.180 over 30 runs)"
    );
    // The row count is the model's noisy total, never the true count. Its standard deviation
    // here is tens of rows, so an exact hit has probability below 1% a run; requiring 8 of
    // 10 runs to differ fails with probability below 1e-4.
    let differ = rows.iter().filter(|&&r| r != table.n_rows()).count();
    assert!(
        differ >= 8,
        "row counts {rows:?} vs true {}",
        table.n_rows()
    );
    assert!(
        rows.iter().any(|&r| r != rows[0]),
        "row counts vary between runs: {rows:?}"
    );
}
