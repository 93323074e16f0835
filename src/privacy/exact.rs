//! Exact sums of rho values, so that "never above the budget" holds in real arithmetic and
//! not only in floating point.
//!
//! Every charge is an `f64`, i.e. a dyadic rational, so the sum of any list of charges is
//! an exact rational. [`RhoSum`] keeps that rational (dashu's `RBig`, the arbitrary
//! precision type opendp itself uses) and compares it with the budget exactly. Figures that
//! leave it are rounded in the safe direction: a total is rounded **up** to the smallest
//! `f64` at or above it ([`RhoSum::upper`]), what is left of a budget **down**
//! ([`RhoSum::remaining`]). Proof: proofs/accountant.md, step 3.

use dashu::rational::RBig;

use super::PrivacyError;

/// An exact running sum of non-negative, finite rho charges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RhoSum(RBig);

/// `v` as an exact rational (every finite f64 is one).
fn exact(v: f64) -> Result<RBig, PrivacyError> {
    RBig::try_from(v)
        .map_err(|_| PrivacyError::InvalidParameter(format!("rho {v} is not a finite number")))
}

/// The smallest f64 at or above `r` (`f64::INFINITY` beyond the largest finite f64).
pub(crate) fn round_up(r: &RBig) -> f64 {
    let v = r.to_f64().value();
    match RBig::try_from(v) {
        Ok(back) if back < *r => v.next_up(),
        _ => v,
    }
}

/// The largest f64 at or below `r` (`f64::NEG_INFINITY` beyond the most negative).
pub(crate) fn round_down(r: &RBig) -> f64 {
    let v = r.to_f64().value();
    match RBig::try_from(v) {
        Ok(back) if back > *r => v.next_down(),
        _ => v,
    }
}

impl RhoSum {
    /// Zero.
    pub fn new() -> Self {
        RhoSum(RBig::ZERO)
    }

    /// The exact sum of `values`, each of which must be finite and non-negative.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Result<Self, PrivacyError> {
        let mut s = RhoSum::new();
        for v in values {
            s.add(v)?;
        }
        Ok(s)
    }

    /// Adds one charge exactly.
    pub fn add(&mut self, rho: f64) -> Result<(), PrivacyError> {
        if !(rho.is_finite() && rho >= 0.0) {
            return Err(PrivacyError::InvalidParameter(format!(
                "a charge must be a finite rho of at least 0 (got {rho})"
            )));
        }
        self.0 += exact(rho)?;
        Ok(())
    }

    /// The exact value.
    pub fn value(&self) -> &RBig {
        &self.0
    }

    /// The smallest f64 at or above the exact sum: the total to report.
    pub fn upper(&self) -> f64 {
        round_up(&self.0)
    }

    /// Whether the exact sum is at most `budget`.
    pub fn within(&self, budget: f64) -> bool {
        exact(budget).is_ok_and(|b| self.0 <= b)
    }

    /// Whether the exact sum plus `rho` is at most `budget` (false for a negative or
    /// non-finite `rho`).
    pub fn fits(&self, rho: f64, budget: f64) -> bool {
        if !(rho.is_finite() && rho >= 0.0) {
            return false;
        }
        match (exact(rho), exact(budget)) {
            (Ok(r), Ok(b)) => &self.0 + r <= b,
            _ => false,
        }
    }

    /// The largest f64 at or below `budget` minus the exact sum, and at least 0: a charge of
    /// at most this always fits.
    pub fn remaining(&self, budget: f64) -> f64 {
        match exact(budget) {
            Ok(b) if b > self.0 => round_down(&(b - &self.0)).max(0.0),
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_tenths_exceed_one_exactly_though_floats_say_otherwise() {
        // f64(0.1) is slightly above 1/10, so ten of them exceed 1 exactly, while the
        // floating-point sum rounds to 0.9999999999999999.
        let float_sum: f64 = std::iter::repeat_n(0.1f64, 10).sum();
        assert!(float_sum <= 1.0);
        let s = RhoSum::of(std::iter::repeat_n(0.1, 10)).unwrap();
        assert!(!s.within(1.0));
        assert!(s.upper() > 1.0);
        assert_eq!(s.remaining(1.0), 0.0);
        let nine = RhoSum::of(std::iter::repeat_n(0.1, 9)).unwrap();
        assert!(nine.within(1.0));
        assert!(!nine.fits(0.1, 1.0));
        // What is left is rounded down, so charging it always fits.
        let left = nine.remaining(1.0);
        assert!(left > 0.0 && nine.fits(left, 1.0));
    }

    #[test]
    fn rounding_is_directed() {
        let third = RBig::from_parts(1.into(), 3u8.into());
        let (up, down) = (round_up(&third), round_down(&third));
        assert_eq!(up, down.next_up());
        assert!(RBig::try_from(up).unwrap() > third && RBig::try_from(down).unwrap() < third);
        let half = RBig::try_from(0.5).unwrap();
        assert_eq!((round_up(&half), round_down(&half)), (0.5, 0.5));
    }

    #[test]
    fn refuses_bad_charges() {
        let mut s = RhoSum::new();
        for bad in [f64::NAN, f64::INFINITY, -1.0] {
            assert!(s.add(bad).is_err());
            assert!(!s.fits(bad, 1.0));
        }
        assert_eq!(s.upper(), 0.0);
    }
}
