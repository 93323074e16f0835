//! Thin wrappers over opendp's measurements, each charging the accountant before it draws.
//!
//! Proofs: proofs/gaussian-marginals.md (`measure_gaussian`, `gaussian_scale_for`) and
//! proofs/exponential-selection.md (`select_noisy_max`, `noisy_max_scale_for`).

use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::{make_gaussian, make_noisy_max};
use opendp::measures::ZeroConcentratedDivergence;
use opendp::metrics::{L2Distance, LInfDistance};
use serde::{Deserialize, Serialize};

use super::{Accountant, LedgerEntry, PrivacyError, Rho};

/// Where the noise came from, recorded in the certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoiseKind {
    pub library: String,
    pub gaussian: String,
    pub selection: String,
    pub rng: String,
}

/// The `rng` a release's noise must come from: OpenSSL's CSPRNG behind opendp's samplers
/// (the default `openssl-rng` feature). Anything else is refused by `synth`/`fit`
/// ([`require_csprng`]) and fails `dpsynth verify` ([`NoiseKind::check_release_grade`]).
pub const CSPRNG_RNG: &str = "OpenSSL RAND_priv_bytes (CSPRNG)";

/// What a build without the `openssl-rng` feature draws noise from (tests only).
const FALLBACK_RNG: &str =
    "rand::thread_rng (NOT a vetted CSPRNG: build with the default openssl-rng feature for releases)";

impl NoiseKind {
    pub fn current() -> Self {
        NoiseKind {
            library: "opendp 0.16".into(),
            gaussian: "make_gaussian: exact discrete Gaussian on i64 counts (Canonne-Kamath-Steinke 2020)".into(),
            selection: "make_noisy_max under zCDP: exponential mechanism via Gumbel noise (McKenna-Sheldon 2020)"
                .into(),
            rng: if cfg!(feature = "openssl-rng") {
                CSPRNG_RNG.into()
            } else {
                FALLBACK_RNG.into()
            },
        }
    }

    /// Whether this is noise a release may carry: opendp's samplers drawing from
    /// [`CSPRNG_RNG`]. The error says what the source is instead.
    pub fn check_release_grade(&self) -> Result<(), PrivacyError> {
        if self.library.starts_with("opendp ") && self.rng == CSPRNG_RNG {
            Ok(())
        } else {
            Err(PrivacyError::WeakNoise(format!(
                "{} with {}",
                self.library, self.rng
            )))
        }
    }
}

/// Refuses a release run in a build whose noise is not from a CSPRNG (built without the
/// default `openssl-rng` feature): called by `synth` and `fit` before anything is read or
/// drawn. Library tests may still use such a build's fallback generator.
pub fn require_csprng() -> Result<(), PrivacyError> {
    NoiseKind::current().check_release_grade()
}

type GaussianMeasurement = opendp::core::Measurement<
    VectorDomain<AtomDomain<i64>>,
    L2Distance<i64>,
    ZeroConcentratedDivergence,
    Vec<i64>,
>;
type NoisyMaxMeasurement = opendp::core::Measurement<
    VectorDomain<AtomDomain<f64>>,
    LInfDistance<f64>,
    ZeroConcentratedDivergence,
    usize,
>;

/// opendp's discrete Gaussian on i64 count vectors under zCDP: the one measurement whose map
/// is charged and whose noise is drawn (proofs/gaussian-marginals.md).
fn gaussian_measurement(scale: f64) -> Result<GaussianMeasurement, PrivacyError> {
    Ok(make_gaussian::<_, _, ZeroConcentratedDivergence>(
        VectorDomain::new(AtomDomain::<i64>::default()),
        L2Distance::<i64>::default(),
        scale,
        None,
    )?)
}

/// opendp's noisy max (exponential mechanism) on f64 scores under zCDP
/// (proofs/exponential-selection.md).
fn noisy_max_measurement(scale: f64, monotone: bool) -> Result<NoisyMaxMeasurement, PrivacyError> {
    Ok(make_noisy_max(
        VectorDomain::new(AtomDomain::<f64>::new_non_nan()),
        LInfDistance::<f64>::new(monotone),
        ZeroConcentratedDivergence,
        scale,
        false,
    )?)
}

/// Smallest-found sigma such that opendp's map charges at most `rho` for L2 sensitivity `sensitivity`.
///
/// Starts from sigma = sensitivity / sqrt(2 rho) and widens by a few ulps if opendp's
/// conservative rounding would charge more than `rho`.
pub fn gaussian_scale_for(rho: Rho, sensitivity: u32) -> Result<f64, PrivacyError> {
    let mut scale = sensitivity as f64 / (2.0 * rho.value()).sqrt();
    for _ in 0..64 {
        if gaussian_rho(scale, sensitivity)? <= rho.value() {
            return Ok(scale);
        }
        scale *= 1.0 + 1e-14;
    }
    Err(PrivacyError::InvalidParameter(format!(
        "no Gaussian scale fits rho {rho}"
    )))
}

/// rho charged by opendp's discrete Gaussian at `scale` for integer L2 sensitivity `sensitivity`.
pub fn gaussian_rho(scale: f64, sensitivity: u32) -> Result<f64, PrivacyError> {
    let m = gaussian_measurement(scale)?;
    Ok(m.map(&(sensitivity as i64))?)
}

/// Adds discrete Gaussian noise of scale `scale` to integer counts, after charging the
/// accountant what opendp's privacy map returns for L2 sensitivity `sensitivity`.
///
/// Under add/remove-one neighbours a single marginal has L2 sensitivity 1
/// (proofs/gaussian-marginals.md). Counts must be whole numbers (they are exact counts).
pub fn measure_gaussian(
    acc: &mut Accountant,
    counts: &[f64],
    scale: f64,
    sensitivity: u32,
    purpose: &str,
    measured: Vec<String>,
) -> Result<Vec<f64>, PrivacyError> {
    let m = gaussian_measurement(scale)?;
    let rho = m.map(&(sensitivity as i64))?;
    acc.charge(LedgerEntry {
        mechanism: "gaussian".into(),
        purpose: purpose.into(),
        measured,
        sensitivity: sensitivity as f64,
        monotone: false,
        scale,
        rho,
    })?;
    let exact: Vec<i64> = counts.iter().map(|&c| c.round() as i64).collect();
    let noisy = m.invoke(&exact)?;
    Ok(noisy.into_iter().map(|v| v as f64).collect())
}

/// Gumbel scale such that opendp's noisy max charges at most `rho` for scores of
/// L-infinity sensitivity `sensitivity` (DESIGN.md: scale = 2 * sensitivity / sqrt(8 rho),
/// or half that when the scores are monotone).
pub fn noisy_max_scale_for(
    rho: Rho,
    sensitivity: f64,
    monotone: bool,
) -> Result<f64, PrivacyError> {
    let range = if monotone {
        sensitivity
    } else {
        2.0 * sensitivity
    };
    let mut scale = range / (8.0 * rho.value()).sqrt();
    for _ in 0..64 {
        if noisy_max_rho(scale, sensitivity, monotone)? <= rho.value() {
            return Ok(scale);
        }
        scale *= 1.0 + 1e-14;
    }
    Err(PrivacyError::InvalidParameter(format!(
        "no noisy-max scale fits rho {rho}"
    )))
}

/// rho charged by opendp's noisy max at `scale` for L-infinity score sensitivity `sensitivity`.
pub fn noisy_max_rho(scale: f64, sensitivity: f64, monotone: bool) -> Result<f64, PrivacyError> {
    let m = noisy_max_measurement(scale, monotone)?;
    Ok(m.map(&sensitivity)?)
}

/// Selects the index of a (noisily) highest score with the exponential mechanism, after
/// charging the accountant. Scores must be finite; `sensitivity` bounds how much any one
/// score can change when one record is added or removed.
pub fn select_noisy_max(
    acc: &mut Accountant,
    scores: &[f64],
    sensitivity: f64,
    monotone: bool,
    scale: f64,
    purpose: &str,
    measured: Vec<String>,
) -> Result<usize, PrivacyError> {
    if scores.is_empty() || scores.iter().any(|s| !s.is_finite()) {
        return Err(PrivacyError::InvalidParameter(
            "noisy max needs a non-empty list of finite scores".into(),
        ));
    }
    let m = noisy_max_measurement(scale, monotone)?;
    let rho = m.map(&sensitivity)?;
    acc.charge(LedgerEntry {
        mechanism: "noisy_max".into(),
        purpose: purpose.into(),
        measured,
        sensitivity,
        monotone,
        scale,
        rho,
    })?;
    Ok(m.invoke(&scores.to_vec())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Item 6 of issue #13: only opendp drawing from OpenSSL's CSPRNG is release grade.
    #[test]
    fn only_the_csprng_is_release_grade() {
        let mut k = NoiseKind::current();
        k.rng = CSPRNG_RNG.into();
        assert!(k.check_release_grade().is_ok());
        k.rng = FALLBACK_RNG.into();
        let e = k.check_release_grade().unwrap_err().to_string();
        assert!(e.contains("not a cryptographically secure") && e.contains("openssl-rng"));
        k.rng = CSPRNG_RNG.into();
        k.library = "handmade".into();
        assert!(k.check_release_grade().is_err());
        // This (default-feature) build is release grade.
        assert_eq!(
            require_csprng().is_ok(),
            cfg!(feature = "openssl-rng"),
            "{:?}",
            NoiseKind::current()
        );
    }

    #[test]
    fn scales_match_closed_forms() {
        let rho = Rho::new(0.01).unwrap();
        let s = gaussian_scale_for(rho, 1).unwrap();
        assert!((s - (1.0f64 / 0.02).sqrt()).abs() / s < 1e-9);
        assert!(gaussian_rho(s, 1).unwrap() <= 0.01);
        let t = noisy_max_scale_for(rho, 3.0, false).unwrap();
        assert!((t - 6.0 / (0.08f64).sqrt()).abs() / t < 1e-9);
        assert!(noisy_max_rho(t, 3.0, false).unwrap() <= 0.01);
        let tm = noisy_max_scale_for(rho, 3.0, true).unwrap();
        assert!((tm - t / 2.0).abs() / t < 1e-9);
    }

    #[test]
    fn charges_before_noise_and_refuses_overspend() {
        let mut acc = Accountant::new(Rho::new(0.01).unwrap());
        let scale = gaussian_scale_for(Rho::new(0.006).unwrap(), 1).unwrap();
        let out = measure_gaussian(&mut acc, &[5.0, 7.0], scale, 1, "t", vec![]).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|v| v.fract() == 0.0));
        let e = measure_gaussian(&mut acc, &[5.0, 7.0], scale, 1, "t", vec![]);
        assert!(e.is_err());
        assert_eq!(acc.ledger().len(), 1);
        assert_eq!(acc.ledger()[0].rho, gaussian_rho(scale, 1).unwrap());
    }
}
