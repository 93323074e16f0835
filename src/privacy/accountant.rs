//! The rho-zCDP accountant: a ledger of every charge, refusing any that would overspend.
//!
//! Proof: proofs/accountant.md (sequential and adaptive composition of zCDP is additive).
//! The running total is kept exactly ([`RhoSum`]): the budget check holds in real
//! arithmetic, not just in floating point.

use serde::{Deserialize, Serialize};

use super::{PrivacyError, Rho, RhoSum};

/// One charge: enough to recompute its rho from its stated scale and sensitivity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// `"gaussian"` (discrete Gaussian on counts) or `"noisy_max"` (exponential mechanism).
    pub mechanism: String,
    /// Why it was spent, e.g. "one-way marginal", "MST edge selection", "AIM round 3 measure".
    pub purpose: String,
    /// What was measured or selected among: column names of the clique(s). Public (schema).
    pub measured: Vec<String>,
    /// L2 sensitivity (Gaussian) or L-infinity sensitivity of the scores (noisy max).
    pub sensitivity: f64,
    /// Whether the scores are monotone in the data (noisy max only; halves the range bound).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub monotone: bool,
    /// Noise scale: sigma of the discrete Gaussian, or the Gumbel scale of noisy max.
    pub scale: f64,
    /// rho charged: what opendp's privacy map returned for this measurement.
    pub rho: f64,
}

/// Tracks spending against a fixed rho budget. Charges happen before noise is drawn.
#[derive(Clone, Debug)]
pub struct Accountant {
    budget: Rho,
    spent: RhoSum,
    ledger: Vec<LedgerEntry>,
}

impl Accountant {
    pub fn new(budget: Rho) -> Self {
        Accountant {
            budget,
            spent: RhoSum::new(),
            ledger: Vec::new(),
        }
    }

    pub fn budget(&self) -> Rho {
        self.budget
    }

    /// The total charged so far, rounded up to an f64 (the exact sum never exceeds it).
    pub fn spent(&self) -> f64 {
        self.spent.upper()
    }

    /// The exact total charged so far.
    pub fn spent_exact(&self) -> &RhoSum {
        &self.spent
    }

    /// Budget left, rounded down (never negative): a charge of at most this always fits.
    pub fn remaining(&self) -> f64 {
        self.spent.remaining(self.budget.value())
    }

    pub fn ledger(&self) -> &[LedgerEntry] {
        &self.ledger
    }

    /// Whether a charge of `rho` would fit. Used by mechanisms to plan; `charge` re-checks.
    /// The comparison is exact: the true sum of every charge, this one included, is at most
    /// the budget.
    pub fn can_afford(&self, rho: f64) -> bool {
        self.spent.fits(rho, self.budget.value())
    }

    /// Records a charge, or refuses it (leaving the ledger unchanged) if it would exceed
    /// the budget. Callers draw noise only after this returns `Ok`.
    pub fn charge(&mut self, entry: LedgerEntry) -> Result<(), PrivacyError> {
        if !(entry.rho.is_finite() && entry.rho >= 0.0 && self.can_afford(entry.rho)) {
            return Err(PrivacyError::BudgetExceeded {
                what: format!("{} ({})", entry.purpose, entry.mechanism),
                requested: entry.rho,
                would_be: self.spent() + entry.rho,
                budget: self.budget.value(),
            });
        }
        self.spent.add(entry.rho)?;
        self.ledger.push(entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rho: f64) -> LedgerEntry {
        LedgerEntry {
            mechanism: "gaussian".into(),
            purpose: "test".into(),
            measured: vec!["a".into()],
            sensitivity: 1.0,
            monotone: false,
            scale: (1.0 / (2.0 * rho)).sqrt(),
            rho,
        }
    }

    #[test]
    fn refuses_overspending_and_keeps_ledger() {
        let mut acc = Accountant::new(Rho::new(1.0).unwrap());
        acc.charge(entry(0.6)).unwrap();
        let err = acc.charge(entry(0.5)).unwrap_err();
        assert!(matches!(err, PrivacyError::BudgetExceeded { .. }));
        assert_eq!(acc.ledger().len(), 1);
        assert_eq!(acc.spent(), 0.6);
        acc.charge(entry(0.4)).unwrap();
        assert_eq!(acc.ledger().len(), 2);
        assert!(acc.charge(entry(1e-9)).is_err());
        assert!(acc.charge(entry(f64::NAN)).is_err());
    }

    #[test]
    fn budget_check_is_exact() {
        // Ten charges of f64(0.1) sum to 0.9999999999999999 in floating point but exceed 1
        // in exact arithmetic (f64(0.1) > 1/10): the tenth must be refused.
        let mut acc = Accountant::new(Rho::new(1.0).unwrap());
        for _ in 0..9 {
            acc.charge(entry(0.1)).unwrap();
        }
        assert!(acc.charge(entry(0.1)).is_err());
        // What remains, rounded down, still fits, and spends the budget exactly to an ulp.
        acc.charge(entry(acc.remaining())).unwrap();
        assert!(acc.spent_exact().within(1.0));
        assert!(acc.spent() <= 1.0 && acc.spent() >= 1.0 - 1e-15);
    }
}
