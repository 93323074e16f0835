//! What MST and AIM share: measuring a marginal through the oracle, splitting budgets.

use crate::marginal::{Clique, MarginalOracle};
use crate::model::Measurement;
use crate::privacy::{gaussian_scale_for, measure_gaussian, Accountant, Budget, PrivacyUnit, Rho};

use super::MechanismError;

/// rho per `K^2` beyond which a larger budget cannot change a release in any way that
/// matters (issue #13, item 9). At `rho = K^2 * 1e12`, a Gaussian step that gets a share
/// `rho / m` of the budget has `sigma = sqrt(m / 2e12)`: below 1e-4 for `m` up to 20,000 steps
/// (MST: `m = 3 d`; AIM: `m = T / 0.9`), where a discrete Gaussian draw is non-zero with
/// probability below `2 exp(-5e7)`; noisy max picks the best score up to differences of
/// about `1e-5 K` per unit of score sensitivity. So the release is as close to the data as
/// the method gets, and keeping the estimator's weights `1 / sigma^2` finite is all that a
/// larger rho would change.
pub const NOISE_FREE_RHO_PER_K2: f64 = 1e12;

/// The rho a run spends: its budget, or `K^2 * NOISE_FREE_RHO_PER_K2` if that is smaller.
/// Spending less than the budget only strengthens the guarantee; the certificate states
/// what was spent.
pub fn spendable_rho(budget: &Budget, unit: &PrivacyUnit) -> f64 {
    let k = unit.max_rows() as f64;
    budget.rho.value().min(k * k * NOISE_FREE_RHO_PER_K2)
}

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
