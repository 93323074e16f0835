//! What single precision would buy the calibration kernels: a measurement for the next
//! performance lead of issue #16, not product code. (Session 21 made it product code:
//! `model/real.rs`, `EstimationOptions::single_precision`; this program stays as the
//! kernels' upper bound.)
//!
//! `cargo run --release --example f32_kernels [CELLS] [REPS]`
//!
//! The refits and the error bars' refits spend their time streaming clique vectors of
//! several million cells through a few kernels (belief = potential + message, log-sum-exp
//! onto a separator keeping the exponentials, sums onto a separator, products with an
//! expanded separator table, mirror descent's mixing). This program runs simplified
//! versions of those kernels, written once and instantiated for `f64` and `f32` (the same
//! branch-free exponential: Cody-Waite reduction and a Taylor polynomial, degree 11 for
//! `f64`, 6 for `f32`), compiled for AVX-512, AVX2 and the baseline as the library's are
//! (`multiversion`), over a NIST-sized model's cells (default 9,465,480: a NIST epsilon 3
//! AIM release's junction tree), with runs of 20 cells onto the separator (the axis summed
//! out innermost) and a separator keeping the innermost axis (runs across rows). It prints
//! milliseconds per pass for each and the ratio. The kernels are simpler than the
//! library's (no run-length dispatch, no slabs), so the ratio is the lead's size, not a
//! promise; the accuracy question (log-potentials and marginals in `f32` under mirror
//! descent's line search) is not measured here.

use std::time::Instant;

use multiversion::multiversion;

macro_rules! kernels {
    ($m:ident, $t:ty, $deg:expr, $ln2hi:expr, $ln2lo:expr, $bits:ty, $mant:expr, $bias:expr) => {
        mod $m {
            use super::multiversion;

            /// `e^x`, branch-free so that loops over it vectorise.
            #[inline(always)]
            fn exp(x: $t) -> $t {
                let lim = <$t>::MAX_EXP as $t * 0.69;
                let x = x.clamp(-lim, lim);
                let k = (x * std::f64::consts::LOG2_E as $t).round();
                let r = x - k * $ln2hi - k * $ln2lo;
                let mut p: $t = 1.0;
                let mut i = $deg;
                while i > 0 {
                    p = 1.0 + r * p / (i as $t);
                    i -= 1;
                }
                p * <$t>::from_bits(((k as i64 + $bias) as $bits) << $mant)
            }

            /// Belief onto a separator that sums out the innermost `run` cells: the
            /// exponentials shifted by each run's maximum, kept, and each run's log-sum.
            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub fn lse_runs(belief: &[$t], run: usize, exps: &mut [$t], sep: &mut [$t]) {
                for ((b, e), s) in belief
                    .chunks_exact(run)
                    .zip(exps.chunks_exact_mut(run))
                    .zip(sep.iter_mut())
                {
                    let m = b.iter().fold(<$t>::NEG_INFINITY, |m, &x| m.max(x));
                    let mut acc: $t = 0.0;
                    for (x, y) in b.iter().zip(e.iter_mut()) {
                        *y = exp(*x - m);
                        acc += *y;
                    }
                    *s = m + acc.ln();
                }
            }

            /// Belief onto a separator that keeps the innermost `inner` cells.
            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub fn lse_rows(belief: &[$t], inner: usize, exps: &mut [$t], sep: &mut [$t]) {
                let mut mx = vec![<$t>::NEG_INFINITY; inner];
                for row in belief.chunks_exact(inner) {
                    for (m, &x) in mx.iter_mut().zip(row) {
                        *m = m.max(x);
                    }
                }
                let mut acc = vec![0.0 as $t; inner];
                for (row, er) in belief.chunks_exact(inner).zip(exps.chunks_exact_mut(inner)) {
                    for (((x, y), m), a) in
                        row.iter().zip(er.iter_mut()).zip(&mx).zip(acc.iter_mut())
                    {
                        *y = exp(*x - *m);
                        *a += *y;
                    }
                }
                for ((a, m), s) in acc.iter().zip(&mx).zip(sep.iter_mut()) {
                    *s = *m + a.ln();
                }
            }

            /// `out = src + small` expanded over runs of `run` cells.
            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub fn add_expanded_from(out: &mut [$t], src: &[$t], small: &[$t], run: usize) {
                for ((o, s), &v) in out
                    .chunks_exact_mut(run)
                    .zip(src.chunks_exact(run))
                    .zip(small)
                {
                    for (a, b) in o.iter_mut().zip(s) {
                        *a = *b + v;
                    }
                }
            }

            /// `big *= small` expanded over rows of `small.len()` cells.
            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub fn mul_rows(big: &mut [$t], small: &[$t]) {
                for row in big.chunks_exact_mut(small.len()) {
                    for (a, b) in row.iter_mut().zip(small) {
                        *a *= *b;
                    }
                }
            }

            /// Sums of runs of `run` cells.
            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub fn sum_runs(big: &[$t], small: &mut [$t], run: usize) {
                for (b, s) in big.chunks_exact(run).zip(small.iter_mut()) {
                    *s = b.iter().sum();
                }
            }

            /// Mirror descent's `dst += t (x - dst)`.
            #[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
            pub fn mix(dst: &mut [$t], t: $t, x: &[$t]) {
                for (d, v) in dst.iter_mut().zip(x) {
                    *d += t * (*v - *d);
                }
            }
        }
    };
}

kernels!(
    k64,
    f64,
    11,
    6.931_471_803_691_238e-1,
    1.908_214_929_270_587_7e-10,
    u64,
    52,
    1023
);
kernels!(
    k32,
    f32,
    6,
    0.693_145_75_f32,
    1.428_606_8e-6_f32,
    u32,
    23,
    127
);

const RUN: usize = 20;
const INNER: usize = 620;

macro_rules! time_all {
    ($t:ty, $m:ident, $n:expr, $reps:expr) => {{
        let n = $n;
        let belief: Vec<$t> = (0..n)
            .map(|i| ((i * 7919 % 1009) as $t) / 100.0 - 5.0)
            .collect();
        let mut out = vec![0.0 as $t; n];
        let mut sep = vec![0.0 as $t; n / RUN];
        let small: Vec<$t> = (0..n / RUN).map(|i| (i % 97) as $t * 0.001).collect();
        let row: Vec<$t> = (0..INNER).map(|i| 1.0 + (i % 13) as $t * 0.001).collect();
        let names = [
            "log-sum-exp, runs summed",
            "log-sum-exp, rows kept",
            "potential + message",
            "product with a table",
            "sums onto a separator",
            "mirror descent's mix",
        ];
        let mut ms = Vec::new();
        for (k, name) in names.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..$reps {
                match k {
                    0 => $m::lse_runs(&belief, RUN, &mut out, &mut sep),
                    1 => $m::lse_rows(&belief, INNER, &mut out, &mut sep[..INNER]),
                    2 => $m::add_expanded_from(&mut out, &belief, &small, RUN),
                    3 => $m::mul_rows(&mut out, &row),
                    4 => $m::sum_runs(&belief, &mut sep, RUN),
                    _ => $m::mix(&mut out, 0.3, &belief),
                }
                std::hint::black_box((&out, &sep));
            }
            ms.push((*name, start.elapsed().as_secs_f64() * 1e3 / $reps as f64));
        }
        ms
    }};
}

fn main() {
    let mut args = std::env::args().skip(1);
    let cells: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(9_465_480);
    let reps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let n = cells / (RUN * INNER) * RUN * INNER;
    let wide = time_all!(f64, k64, n, reps);
    let narrow = time_all!(f32, k32, n, reps);
    println!("{n} cells, {reps} passes each, ms per pass");
    let (mut a, mut b) = (0.0, 0.0);
    for ((name, x), (_, y)) in wide.iter().zip(&narrow) {
        println!("{name:26} f64 {x:8.2}  f32 {y:8.2}  ratio {:.2}", x / y);
        a += x;
        b += y;
    }
    println!(
        "{:26} f64 {a:8.2}  f32 {b:8.2}  ratio {:.2}",
        "all six",
        a / b
    );
}
