//! Privacy parameters as types, and the conversion between rho-zCDP and (epsilon, delta)-DP.
//!
//! Proof: proofs/accountant.md (the conversion is opendp's tight zCDP -> approximate-DP
//! profile, Canonne-Kamath-Steinke 2020; we only invert it by bisection, conservatively).

use opendp::combinators::ConcentratedMeasure;
use opendp::measures::ZeroConcentratedDivergence;
use serde::{Deserialize, Serialize};
use std::fmt;

use super::PrivacyError;

macro_rules! positive_param {
    ($name:ident, $what:literal) => {
        #[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(f64);

        impl $name {
            /// Accepts finite, strictly positive values only.
            pub fn new(v: f64) -> Result<Self, PrivacyError> {
                if v.is_finite() && v > 0.0 {
                    Ok($name(v))
                } else {
                    Err(PrivacyError::InvalidParameter(format!(
                        "{} must be a finite number greater than 0 (got {v})",
                        $what
                    )))
                }
            }

            pub fn value(self) -> f64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

positive_param!(Rho, "rho");
positive_param!(Epsilon, "epsilon");

/// The delta of approximate DP: strictly between 0 and 1.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Delta(f64);

impl Delta {
    pub fn new(v: f64) -> Result<Self, PrivacyError> {
        if v.is_finite() && v > 0.0 && v < 1.0 {
            Ok(Delta(v))
        } else {
            Err(PrivacyError::InvalidParameter(format!(
                "delta must be greater than 0 and less than 1 (got {v}); 1e-9 or below suits tables up to millions of rows"
            )))
        }
    }

    pub fn value(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The delta at which `rho`-zCDP gives `epsilon`-DP: opendp's tight conversion.
pub fn delta_for(rho: Rho, epsilon: Epsilon) -> Result<f64, PrivacyError> {
    let profile = <ZeroConcentratedDivergence as ConcentratedMeasure>::convert(rho.0)?;
    Ok(profile.delta(epsilon.0)?)
}

/// The smallest epsilon such that `rho`-zCDP implies (epsilon, delta)-DP.
pub fn epsilon_for(rho: Rho, delta: Delta) -> Result<Epsilon, PrivacyError> {
    let profile = <ZeroConcentratedDivergence as ConcentratedMeasure>::convert(rho.0)?;
    Epsilon::new(profile.epsilon(delta.0)?)
}

/// The largest rho whose (epsilon, delta) guarantee is at least as strong as the one asked for.
///
/// delta(rho, epsilon) is increasing in rho, so bisection on rho keeps the invariant
/// delta(lo, epsilon) <= delta: the returned rho never promises more than was asked.
pub fn rho_for(epsilon: Epsilon, delta: Delta) -> Result<Rho, PrivacyError> {
    let within = |rho: f64| -> Result<bool, PrivacyError> {
        let profile = <ZeroConcentratedDivergence as ConcentratedMeasure>::convert(rho)?;
        Ok(profile.delta(epsilon.0)? <= delta.0)
    };
    let (mut lo, mut hi) = (0.0f64, epsilon.0.max(1.0));
    while within(hi)? {
        lo = hi;
        hi *= 2.0;
        if !hi.is_finite() {
            return Err(PrivacyError::InvalidParameter(
                "epsilon is too large to convert".into(),
            ));
        }
    }
    for _ in 0..200 {
        let mid = lo + (hi - lo) / 2.0;
        if mid <= lo || mid >= hi {
            break;
        }
        if within(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Rho::new(lo).map_err(|_| {
        PrivacyError::InvalidParameter(format!(
            "epsilon {} with delta {} allows no positive rho",
            epsilon.0, delta.0
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epsilon_delta_round_trip() {
        let eps = Epsilon::new(1.0).unwrap();
        let delta = Delta::new(1e-9).unwrap();
        let rho = rho_for(eps, delta).unwrap();
        let back = epsilon_for(rho, delta).unwrap();
        assert!(
            (back.value() - 1.0).abs() <= 1e-9,
            "eps back {}",
            back.value()
        );
        assert!(
            back.value() <= 1.0 + 1e-12,
            "never promises more than asked"
        );
        // Known value: rho for (1, 1e-9) is about 0.0189 (loose bound eps = rho + 2 sqrt(rho ln 1/delta)
        // gives 0.0130; the tight conversion allows more).
        assert!(
            rho.value() > 0.013 && rho.value() < 0.03,
            "rho {}",
            rho.value()
        );
    }

    #[test]
    fn round_trips_across_range() {
        for &(e, d) in &[(0.1, 1e-6), (0.3, 1e-9), (3.0, 1e-9), (10.0, 1e-12)] {
            let rho = rho_for(Epsilon::new(e).unwrap(), Delta::new(d).unwrap()).unwrap();
            let back = epsilon_for(rho, Delta::new(d).unwrap()).unwrap().value();
            assert!(
                ((back - e) / e).abs() <= 1e-9,
                "eps {e} delta {d}: back {back}"
            );
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        for v in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Epsilon::new(v).is_err());
            assert!(Rho::new(v).is_err());
            assert!(Delta::new(v).is_err());
        }
        assert!(Delta::new(1.0).is_err());
        assert!(Delta::new(1e-9).is_ok());
    }
}

/// A run's budget: the rho it may spend, and the delta at which it is also reported as
/// (epsilon, delta)-DP.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub rho: Rho,
    pub delta: Delta,
}

impl Budget {
    /// From a user's (epsilon, delta): the largest rho that guarantees it.
    pub fn from_epsilon_delta(epsilon: Epsilon, delta: Delta) -> Result<Self, PrivacyError> {
        Ok(Budget {
            rho: rho_for(epsilon, delta)?,
            delta,
        })
    }

    /// From a rho given directly; delta is used only to report the implied epsilon.
    pub fn from_rho(rho: Rho, delta: Delta) -> Self {
        Budget { rho, delta }
    }

    /// The epsilon this budget implies at its delta.
    pub fn epsilon(&self) -> Result<Epsilon, PrivacyError> {
        epsilon_for(self.rho, self.delta)
    }
}
