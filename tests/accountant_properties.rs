//! Accountant properties (issue #8): random sequences of charges never exceed the budget,
//! refused charges leave no trace, and a certificate's totals equal its ledger's.

use dpsynth::privacy::{Accountant, LedgerEntry, Rho};
use proptest::prelude::*;

fn entry(rho: f64) -> LedgerEntry {
    LedgerEntry {
        mechanism: "gaussian".into(),
        purpose: "property".into(),
        measured: vec![],
        sensitivity: 1.0,
        monotone: false,
        scale: 1.0,
        rho,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn charges_never_exceed_the_budget(
        budget in 1e-6f64..10.0,
        fractions in prop::collection::vec(0.0f64..0.6, 0..60),
    ) {
        let mut acc = Accountant::new(Rho::new(budget).unwrap());
        let mut accepted = Vec::new();
        for f in fractions {
            let rho = f * budget;
            let before = (acc.spent(), acc.ledger().len());
            match acc.charge(entry(rho)) {
                Ok(()) => accepted.push(rho),
                Err(_) => prop_assert_eq!((acc.spent(), acc.ledger().len()), before),
            }
            prop_assert!(acc.spent() <= budget);
        }
        let ledger_sum: f64 = acc.ledger().iter().map(|e| e.rho).sum();
        prop_assert_eq!(ledger_sum, acc.spent());
        prop_assert_eq!(accepted.len(), acc.ledger().len());
        prop_assert!(acc.remaining() >= 0.0);
    }

    #[test]
    fn exact_shares_of_the_budget_all_fit(budget in 1e-6f64..10.0, parts in 1usize..500) {
        // What MST and AIM do: split a budget into equal shares shaved by 1e-12.
        let mut acc = Accountant::new(Rho::new(budget).unwrap());
        let share = budget / parts as f64 * (1.0 - 1e-12);
        for _ in 0..parts {
            prop_assert!(acc.charge(entry(share)).is_ok());
        }
        prop_assert!((budget - acc.spent()) / budget < 1e-9);
    }
}
