//! Privacy parameters as types, and the conversion between rho-zCDP and (epsilon, delta)-DP.
//!
//! Proof: proofs/accountant.md (the conversion is opendp's tight zCDP -> approximate-DP
//! profile, Canonne-Kamath-Steinke 2020; we only invert it by bisection, conservatively).

use opendp::combinators::ConcentratedMeasure;
use opendp::error::ErrorVariant;
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
///
/// opendp's arithmetic overflows where its bound exceeds 1 (an exponent beyond 709; e.g.
/// epsilon well below rho, as when rho is 10^5) and at extreme parameters; delta = 1 is
/// then returned, which every mechanism satisfies, so the answer is always a valid delta.
pub fn delta_for(rho: Rho, epsilon: Epsilon) -> Result<f64, PrivacyError> {
    profile_delta(rho.0, epsilon.0)
}

fn profile_delta(rho: f64, epsilon: f64) -> Result<f64, PrivacyError> {
    let profile = <ZeroConcentratedDivergence as ConcentratedMeasure>::convert(rho)?;
    match profile.delta(epsilon) {
        Ok(d) => Ok(d),
        Err(e) if matches!(e.variant, ErrorVariant::Overflow) => Ok(1.0),
        Err(e) => Err(e.into()),
    }
}

/// The smallest epsilon such that `rho`-zCDP implies (epsilon, delta)-DP.
///
/// opendp's own search; where it overflows (rho beyond about 10^4 at delta 1e-9), the same
/// search over [`delta_for`]: bisection keeping `delta(hi) <= delta`, so the epsilon
/// returned is never smaller than the tight one.
pub fn epsilon_for(rho: Rho, delta: Delta) -> Result<Epsilon, PrivacyError> {
    let profile = <ZeroConcentratedDivergence as ConcentratedMeasure>::convert(rho.0)?;
    match profile.epsilon(delta.0) {
        Ok(e) => Epsilon::new(e),
        Err(e) if matches!(e.variant, ErrorVariant::Overflow) => epsilon_by_bisection(rho, delta),
        Err(e) => Err(e.into()),
    }
}

fn epsilon_by_bisection(rho: Rho, delta: Delta) -> Result<Epsilon, PrivacyError> {
    let within =
        |eps: f64| -> Result<bool, PrivacyError> { Ok(profile_delta(rho.0, eps)? <= delta.0) };
    // Bun and Steinke 2016, Proposition 1.3: rho-zCDP gives (rho + 2 sqrt(rho ln(1/delta)),
    // delta)-DP, a start at or above the tight epsilon (widened if rounding says otherwise).
    let mut hi = rho.0 + 2.0 * (rho.0 * (1.0 / delta.0).ln()).sqrt();
    while !within(hi)? {
        hi *= 2.0;
        if !hi.is_finite() {
            return Err(PrivacyError::InvalidParameter(format!(
                "rho {} is too large to convert to (epsilon, delta)",
                rho.0
            )));
        }
    }
    let mut lo = 0.0f64;
    for _ in 0..200 {
        let mid = lo + (hi - lo) / 2.0;
        if mid <= lo || mid >= hi {
            break;
        }
        if within(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Epsilon::new(hi)
}

/// The largest rho whose (epsilon, delta) guarantee is at least as strong as the one asked for.
///
/// delta(rho, epsilon) is increasing in rho, so bisection on rho keeps the invariant
/// delta(lo, epsilon) <= delta: the returned rho never promises more than was asked.
///
/// An epsilon above 1e300 is treated as 1e300: a guarantee at 1e300 implies every larger
/// one, and opendp's profile cannot be evaluated near the largest f64.
pub fn rho_for(epsilon: Epsilon, delta: Delta) -> Result<Rho, PrivacyError> {
    let epsilon = Epsilon(epsilon.0.min(1e300));
    let within =
        |rho: f64| -> Result<bool, PrivacyError> { Ok(profile_delta(rho, epsilon.0)? <= delta.0) };
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

    #[test]
    fn huge_budgets_convert_both_ways() {
        // opendp's profile overflows from about epsilon 1e5 at delta 1e-9 (issue #13, item 9).
        let delta = Delta::new(1e-9).unwrap();
        let mut last = 0.0;
        for e in [1e3, 1e5, 1e6, 1e10, 1e100, 1e300] {
            let rho = rho_for(Epsilon::new(e).unwrap(), delta).unwrap();
            assert!(rho.value() > last, "rho grows with epsilon");
            last = rho.value();
            let back = epsilon_for(rho, delta).unwrap().value();
            // Never promises more than asked; close to it (the search works to a few ulps
            // of rho, and epsilon is about rho here).
            assert!(back <= e, "epsilon {e}: back {back}");
            assert!(back >= e * (1.0 - 1e-9), "epsilon {e}: back {back}");
            assert!(delta_for(rho, Epsilon::new(back).unwrap()).unwrap() <= 1e-9);
        }
        // Beyond 1e300 the guarantee asked for is implied by the one at 1e300.
        let top = rho_for(Epsilon::new(f64::MAX).unwrap(), delta).unwrap();
        assert_eq!(top.value(), last);
    }

    #[test]
    fn fallback_search_agrees_with_opendp_where_both_work() {
        for &(r, d) in &[(0.01, 1e-9), (1.0, 1e-6), (42.0, 1e-9), (5000.0, 1e-12)] {
            let (rho, delta) = (Rho::new(r).unwrap(), Delta::new(d).unwrap());
            let a = epsilon_for(rho, delta).unwrap().value();
            let b = epsilon_by_bisection(rho, delta).unwrap().value();
            assert!(
                ((a - b) / a).abs() <= 1e-12,
                "rho {r}: opendp {a}, bisection {b}"
            );
        }
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
