//! Statistical checks that the opendp wrappers draw from the distributions the proofs assume.

use dpsynth::privacy::{measure_gaussian, select_noisy_max, Accountant, Rho};
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Exact variance of the discrete Gaussian N_Z(0, sigma^2) by summing its mass function.
fn discrete_gaussian_variance(sigma: f64) -> f64 {
    let (mut z, mut m2) = (0.0, 0.0);
    for k in -2000i64..=2000 {
        let p = (-(k * k) as f64 / (2.0 * sigma * sigma)).exp();
        z += p;
        m2 += (k * k) as f64 * p;
    }
    m2 / z
}

/// 100,000 zero counts; (n-1) S^2 / Var lies in the central 99.9% chi-square interval.
/// Failure probability of a correct sampler: 0.001 (kurtosis of the discrete Gaussian at
/// sigma = 3 is within 1e-6 of the normal's, so the chi-square reference holds).
#[test]
fn gaussian_noise_variance_in_999_interval() {
    let n = 100_000usize;
    let sigma = 3.0;
    let mut acc = Accountant::new(Rho::new(1.0).unwrap());
    let noisy = measure_gaussian(&mut acc, &vec![0.0; n], sigma, 1, "test", vec![]).unwrap();
    let mean = noisy.iter().sum::<f64>() / n as f64;
    let s2 = noisy.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
    let var = discrete_gaussian_variance(sigma);
    let chi = ChiSquared::new((n - 1) as f64).unwrap();
    let (lo, hi) = (chi.inverse_cdf(0.0005), chi.inverse_cdf(0.9995));
    let stat = (n - 1) as f64 * s2 / var;
    assert!(
        stat > lo && stat < hi,
        "statistic {stat} outside [{lo}, {hi}] (S^2 = {s2}, Var = {var})"
    );
    // A continuous-scale mix-up (e.g. scale read as variance) would put S^2 near 9 or 1.7.
    assert!((s2 - 9.0).abs() < 0.2);
    // opendp rounds its map upward: the charge is never below the closed form.
    let closed = 1.0 / (2.0 * sigma * sigma);
    let charged = acc.ledger()[0].rho;
    assert!(
        charged >= closed && (charged - closed) / closed < 1e-12,
        "charged {charged}"
    );
}

/// Two candidates with scores 0 and 1 at Gumbel scale 1: the exponential mechanism picks
/// the second with probability e / (1 + e). Binomial test over 20,000 draws, two-sided,
/// failure probability 1e-6 (|z| > 4.89).
#[test]
fn noisy_max_frequencies_match_exponential_mechanism() {
    let trials = 20_000usize;
    let mut acc = Accountant::new(Rho::new(1e9).unwrap());
    let mut ones = 0usize;
    for _ in 0..trials {
        ones += select_noisy_max(&mut acc, &[0.0, 1.0], 1.0, false, 1.0, "test", vec![]).unwrap();
    }
    let p = std::f64::consts::E / (1.0 + std::f64::consts::E);
    let sd = (p * (1.0 - p) / trials as f64).sqrt();
    let freq = ones as f64 / trials as f64;
    let z = (freq - p) / sd;
    assert!(z.abs() < 4.89, "frequency {freq} vs {p} (z = {z})");
}
