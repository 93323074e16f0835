//! What MST and AIM share: measuring a marginal through the oracle, splitting budgets.

use crate::marginal::{Clique, MarginalOracle};
use crate::model::Measurement;
use crate::privacy::{gaussian_scale_for, measure_gaussian, Accountant, PrivacyUnit, Rho};

use super::MechanismError;

/// `total / parts`, shaved by a relative 1e-12 so that floating-point sums of the parts
/// never exceed `total` (the accountant refuses any overspend, however small).
pub fn share(total: f64, parts: usize) -> f64 {
    total / parts.max(1) as f64 * (1.0 - 1e-12)
}

/// Measures the exact marginal of `clique` with discrete Gaussian noise costing at most
/// `rho`, charged to `acc` before noise. The L2 sensitivity is the unit's
/// (`unit.marginal_sensitivity()`: 1 for a record, K for a unit of up to K rows;
/// proofs/gaussian-marginals.md and proofs/privacy-unit.md).
pub fn measure_marginal<O: MarginalOracle>(
    oracle: &O,
    acc: &mut Accountant,
    clique: &Clique,
    rho: f64,
    unit: &PrivacyUnit,
    purpose: &str,
) -> Result<Measurement, MechanismError> {
    let sigma = gaussian_scale_for(Rho::new(rho)?, unit.marginal_sensitivity())?;
    measure_marginal_with_sigma(oracle, acc, clique, sigma, unit, purpose)
}

/// As [`measure_marginal`], at a given noise scale.
pub fn measure_marginal_with_sigma<O: MarginalOracle>(
    oracle: &O,
    acc: &mut Accountant,
    clique: &Clique,
    sigma: f64,
    unit: &PrivacyUnit,
    purpose: &str,
) -> Result<Measurement, MechanismError> {
    let domain = oracle.domain();
    let names = clique
        .attrs()
        .iter()
        .map(|&a| domain.name(a).to_string())
        .collect();
    let exact = oracle.marginal(clique)?;
    let values = measure_gaussian(
        acc,
        &exact.values,
        sigma,
        unit.marginal_sensitivity(),
        purpose,
        names,
    )?;
    Ok(Measurement::new(clique.clone(), values, sigma))
}
