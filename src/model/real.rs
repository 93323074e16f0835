//! The element type of clique vectors: `f64`, or `f32` for the exact fit's calibrations.
//!
//! A fit's time goes into passes over its clique vectors (tens of millions of cells on the
//! largest AIM models), and those passes are bound by memory traffic and vector width,
//! not by arithmetic: in single precision they move half the bytes and fill twice the
//! lanes. The walks ([`super::layout`]) and the estimator ([`super::estimate`]) are written
//! once over [`Real`]; the two instruction-set-dispatched instantiations live beside the
//! walks (`layout::dispatch`), since `multiversion` does not take type parameters.
//!
//! What stays in `f64` whatever the element type (docs/performance.md, session 21): every
//! reduction over a whole clique vector (sums, dot products, squared distances, the root's
//! sum behind log Z: accumulated in `f64`, so the line search's KL term, a difference of
//! two numbers of 1e3-1e4, keeps its digits), measurements, projections onto measured
//! cliques, losses and step sizes, and the fitted model's potentials.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use super::layout::SubsetLayout;

/// A floating-point element of a clique vector. Implemented for `f64` and `f32` only.
pub(crate) trait Real:
    Copy
    + Send
    + Sync
    + Default
    + PartialOrd
    + Debug
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;
    /// The smallest positive normal value.
    const MIN_POSITIVE: Self;
    /// Rounds an `f64` to this type (to infinity beyond its range).
    fn of(x: f64) -> Self;
    /// Exactly as an `f64`.
    fn wide(self) -> f64;
    /// `e^x` without a libm call (see `layout::kernels::exp`): branch-free, so loops over
    /// it vectorise; 0 far below the range, +inf above it.
    fn fast_exp(self) -> Self;
    fn ln(self) -> Self;
    fn max(self, other: Self) -> Self;
    fn abs(self) -> Self;
    fn is_finite(self) -> bool;

    // The walks of `layout::dispatch`, one instantiation per element type.
    fn add_expanded(l: &SubsetLayout, big: &mut [Self], small: &[Self]);
    fn mul_expanded(l: &SubsetLayout, big: &mut [Self], small: &[Self]);
    fn add_expanded_from(l: &SubsetLayout, out: &mut [Self], src: &[Self], small: &[Self]);
    fn sum_into(l: &SubsetLayout, big: &[Self], small: &mut [Self]);
    fn sum_acc(l: &SubsetLayout, big: &[Self], small: &mut [Self]);
    fn lse_max_pass(l: &SubsetLayout, big: &[Self], small: &mut [Self]);
    fn lse_exp_pass(
        l: &SubsetLayout,
        big: &[Self],
        small: &[Self],
        exps: &mut [Self],
        acc: &mut [Self],
    );
    fn logsumexp_into(l: &SubsetLayout, big: &[Self], small: &mut [Self], scratch: &mut [Self]);
    fn logsumexp_keep(
        l: &SubsetLayout,
        big: &[Self],
        small: &mut [Self],
        exps: &mut [Self],
        acc: &mut [Self],
    );

    // The element-wise kernels over whole clique vectors (`layout::kernels`), dispatched
    // the same way.
    fn sub_scaled(dst: &mut [Self], a: &[Self], alpha: f64, b: &[Self]);
    fn mix(dst: &mut [Self], t: f64, x: &[Self]);
    fn mix_into(dst: &mut [Self], a: &[Self], t: f64, b: &[Self]);
    fn sq_dist(a: &[Self], b: &[Self]) -> f64;
    fn dot(a: &[Self], b: &[Self]) -> f64;
    fn max_abs(x: &[Self]) -> f64;
    /// The largest element (-inf for none).
    fn max_of(x: &[Self]) -> Self;
    /// `dst = exp(src - shift)`, returning the sum (in `f64`).
    fn exp_shift_sum(dst: &mut [Self], src: &[Self], shift: Self) -> f64;
    fn mul_scalar(x: &mut [Self], c: Self);
}

macro_rules! real_common {
    ($t:ty, $m:ident) => {
        const ZERO: Self = 0.0;
        const ONE: Self = 1.0;
        const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
        const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;
        #[inline(always)]
        fn ln(self) -> Self {
            <$t>::ln(self)
        }
        #[inline(always)]
        fn max(self, other: Self) -> Self {
            <$t>::max(self, other)
        }
        #[inline(always)]
        fn abs(self) -> Self {
            <$t>::abs(self)
        }
        #[inline(always)]
        fn is_finite(self) -> bool {
            <$t>::is_finite(self)
        }
        fn add_expanded(l: &SubsetLayout, big: &mut [Self], small: &[Self]) {
            super::layout::$m::add_expanded(l, big, small)
        }
        fn mul_expanded(l: &SubsetLayout, big: &mut [Self], small: &[Self]) {
            super::layout::$m::mul_expanded(l, big, small)
        }
        fn add_expanded_from(l: &SubsetLayout, out: &mut [Self], src: &[Self], small: &[Self]) {
            super::layout::$m::add_expanded_from(l, out, src, small)
        }
        fn sum_into(l: &SubsetLayout, big: &[Self], small: &mut [Self]) {
            super::layout::$m::sum_into(l, big, small)
        }
        fn sum_acc(l: &SubsetLayout, big: &[Self], small: &mut [Self]) {
            super::layout::$m::sum_acc(l, big, small)
        }
        fn lse_max_pass(l: &SubsetLayout, big: &[Self], small: &mut [Self]) {
            super::layout::$m::lse_max_pass(l, big, small)
        }
        fn lse_exp_pass(
            l: &SubsetLayout,
            big: &[Self],
            small: &[Self],
            exps: &mut [Self],
            acc: &mut [Self],
        ) {
            super::layout::$m::lse_exp_pass(l, big, small, exps, acc)
        }
        fn logsumexp_into(
            l: &SubsetLayout,
            big: &[Self],
            small: &mut [Self],
            scratch: &mut [Self],
        ) {
            super::layout::$m::logsumexp_into(l, big, small, scratch)
        }
        fn logsumexp_keep(
            l: &SubsetLayout,
            big: &[Self],
            small: &mut [Self],
            exps: &mut [Self],
            acc: &mut [Self],
        ) {
            super::layout::$m::logsumexp_keep(l, big, small, exps, acc)
        }
        fn sub_scaled(dst: &mut [Self], a: &[Self], alpha: f64, b: &[Self]) {
            super::layout::$m::sub_scaled(dst, a, alpha as $t, b)
        }
        fn mix(dst: &mut [Self], t: f64, x: &[Self]) {
            super::layout::$m::mix(dst, t as $t, x)
        }
        fn mix_into(dst: &mut [Self], a: &[Self], t: f64, b: &[Self]) {
            super::layout::$m::mix_into(dst, a, t as $t, b)
        }
        fn sq_dist(a: &[Self], b: &[Self]) -> f64 {
            super::layout::$m::sq_dist(a, b)
        }
        fn dot(a: &[Self], b: &[Self]) -> f64 {
            super::layout::$m::dot(a, b)
        }
        fn max_abs(x: &[Self]) -> f64 {
            super::layout::$m::max_abs(x)
        }
        fn max_of(x: &[Self]) -> Self {
            super::layout::$m::max(x)
        }
        fn exp_shift_sum(dst: &mut [Self], src: &[Self], shift: Self) -> f64 {
            super::layout::$m::exp_shift_sum(dst, src, shift)
        }
        fn mul_scalar(x: &mut [Self], c: Self) {
            super::layout::$m::mul_scalar(x, c)
        }
    };
}

impl Real for f64 {
    real_common!(f64, dispatch_f64);
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }
    #[inline(always)]
    fn fast_exp(self) -> Self {
        super::layout::kernels::exp(self)
    }
}

impl Real for f32 {
    real_common!(f32, dispatch_f32);
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn fast_exp(self) -> Self {
        super::layout::kernels::exp_f32(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_precision_exp_is_within_a_few_ulp() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let got = x.fast_exp() as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        // f32's unit roundoff is 6e-8: a few ulp.
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert_eq!((-200.0f32).fast_exp(), 0.0);
        assert_eq!(f32::NEG_INFINITY.fast_exp(), 0.0);
        assert_eq!(100.0f32.fast_exp(), f32::INFINITY);
        assert_eq!(0.0f32.fast_exp(), 1.0);
    }
}
