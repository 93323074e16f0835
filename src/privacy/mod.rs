//! Privacy: parameter types, the rho-zCDP accountant, and thin wrappers over opendp's
//! discrete Gaussian and noisy-max mechanisms. Every noisy answer in dpsynth comes from here.

mod accountant;
mod budget;
mod exact;
mod mechanisms;
mod rng;
mod unit;

pub use accountant::{Accountant, LedgerEntry};
pub use budget::{delta_for, epsilon_for, rho_for, Budget, Delta, Epsilon, Rho};
pub use exact::RhoSum;
pub use mechanisms::{
    gaussian_rho, gaussian_scale_for, measure_gaussian, noisy_max_rho, noisy_max_scale_for,
    require_csprng, select_noisy_max, NoiseKind, CSPRNG_RNG,
};
pub use rng::secure_rng;
pub use unit::{PrivacyUnit, MAX_ROWS_PER_UNIT};

/// Errors of the privacy layer. None of them carries a value derived from private data.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("budget exceeded: charging rho {requested:.6e} for {what} would bring the total to {would_be:.6e}, above the budget {budget:.6e}")]
    BudgetExceeded {
        what: String,
        requested: f64,
        would_be: f64,
        budget: f64,
    },
    #[error("opendp: {0}")]
    OpenDp(String),
    /// Noise not drawn from a cryptographically secure generator (issue #13, item 6).
    #[error("the noise source is {0}, not a cryptographically secure generator: a release needs dpsynth built with the default `openssl-rng` feature (OpenSSL's CSPRNG)")]
    WeakNoise(String),
}

impl From<opendp::error::Error> for PrivacyError {
    fn from(e: opendp::error::Error) -> Self {
        PrivacyError::OpenDp(format!(
            "{:?}: {}",
            e.variant,
            e.message.as_deref().unwrap_or("")
        ))
    }
}
