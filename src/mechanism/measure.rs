//! What MST and AIM share: measuring a marginal through the oracle, splitting budgets.

use crate::marginal::{Clique, MarginalOracle};
use crate::model::Measurement;
use crate::privacy::{gaussian_scale_for, measure_gaussian, Accountant, Rho};

use super::MechanismError;

/// `total / parts`, shaved by a relative 1e-12 so that floating-point sums of the parts
/// never exceed `total` (the accountant refuses any overspend, however small).
pub fn share(total: f64, parts: usize) -> f64 {
    total / parts.max(1) as f64 * (1.0 - 1e-12)
}

/// Measures the exact marginal of `clique` with discrete Gaussian noise costing at most
/// `rho` (L2 sensitivity 1; proofs/gaussian-marginals.md), charged to `acc` before noise.
pub fn measure_marginal<O: MarginalOracle>(
    oracle: &O,
    acc: &mut Accountant,
    clique: &Clique,
    rho: f64,
    purpose: &str,
) -> Result<Measurement, MechanismError> {
    let sigma = gaussian_scale_for(Rho::new(rho)?, 1)?;
    measure_marginal_with_sigma(oracle, acc, clique, sigma, purpose)
}

/// As [`measure_marginal`], at a given noise scale.
pub fn measure_marginal_with_sigma<O: MarginalOracle>(
    oracle: &O,
    acc: &mut Accountant,
    clique: &Clique,
    sigma: f64,
    purpose: &str,
) -> Result<Measurement, MechanismError> {
    let domain = oracle.domain();
    let names = clique
        .attrs()
        .iter()
        .map(|&a| domain.name(a).to_string())
        .collect();
    let exact = oracle.marginal(clique)?;
    let values = measure_gaussian(acc, &exact.values, sigma, 1, purpose, names)?;
    Ok(Measurement::new(clique.clone(), values, sigma))
}
