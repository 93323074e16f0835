//! What a governed release states besides the guarantee (issue #19, certificate version 2):
//! the deployment model and where counting ran, the quantities DP does not protect, the
//! implementation, the release context given by the operator, the release's place among
//! earlier releases of a lifetime ledger, and utility figures from DP outputs only.
//!
//! Nothing here is computed from the private input. The context is what the operator types
//! (`--curator`, `--purpose`, `--dataset-label`), the release id is fresh randomness, the
//! start time is read before any data is, prior releases come from the ledger (budgets and
//! hashes of earlier certificates), and the utility figures are the accuracy report's
//! (post-processing of noisy measurements, proofs/accuracy.md). The `no_private_values`
//! tests in tests/governed.rs check this on real releases. Proof: proofs/release-metadata.md.

use serde::{Deserialize, Serialize};

use crate::model::accuracy::AccuracyReport;
use crate::privacy::PrivacyUnit;

/// The exact opendp release this build links (Cargo.lock; a unit test keeps them equal).
pub const OPENDP_VERSION: &str = "0.16.0";

/// Where the exact counts behind the noisy marginals were computed. The counts never leave
/// the curator's side; only noisy marginals do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Counting {
    /// In the dpsynth process, from a CSV or Parquet file.
    Memory,
    /// Inside a PostgreSQL database (`SqlOracle`): only counts came back.
    Postgresql,
    /// In Apache Spark (the Python package): only counts came back.
    Spark,
}

impl Counting {
    pub fn describe(self) -> &'static str {
        match self {
            Counting::Memory => {
                "in memory, inside the dpsynth process on the curator's machine (CSV or Parquet input)"
            }
            Counting::Postgresql => {
                "inside the curator's PostgreSQL database; only marginal counts left the database, into the dpsynth process"
            }
            Counting::Spark => {
                "inside the curator's Apache Spark cluster; only marginal counts left it, into the dpsynth process"
            }
        }
    }
}

/// The deployment model (NIST SP 800-226's "trust model"; the DP Deployments Registry's
/// `deployment_model`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Always `"central"`: a trusted curator runs dpsynth on the private data.
    pub model: String,
    pub trust: String,
    /// Where counting ran.
    pub counting: Counting,
    pub counting_details: String,
    /// Always `"one release"` from the tool's view; a lifetime ledger composes several.
    pub release_type: String,
    /// Always `"non-interactive"`: partners get files, not a query interface.
    pub access: String,
    /// What DP does not protect, in plain words (what anyone with the release learns
    /// exactly). Never the true row count.
    pub unprotected: Vec<String>,
}

impl Deployment {
    pub fn central(counting: Counting, unit: &PrivacyUnit, ledger: bool) -> Self {
        Deployment {
            model: "central".into(),
            trust: "A trusted curator (the data holder) runs dpsynth on the private data; the data, the exact counts and the operator's terminal output stay with the curator. Everyone else, partners included, sees only the release, and the guarantee holds against them whatever they know or do.".into(),
            counting,
            counting_details: counting.describe().into(),
            release_type: if ledger { "many releases" } else { "one release" }.into(),
            access: "non-interactive".into(),
            unprotected: unprotected(unit, ledger),
        }
    }
}

/// The quantities a release discloses exactly (not protected by DP), in plain words.
pub fn unprotected(unit: &PrivacyUnit, ledger: bool) -> Vec<String> {
    let mut v = vec![
        "The public schema, embedded in the certificate: column names and kinds, value lists, bounds, bins, rules and missing-value policies. The curator asserts it is public knowledge; dpsynth reads nothing about it from the data.".to_string(),
        "The set of columns modelled (the schema's non-id columns).".to_string(),
        "The fact that this release was made, the start time of the run, and the context the curator gave (curator, purpose, dataset label).".to_string(),
        "The mechanism, its options, the privacy budget and the noise scale of every measurement (the certificate's ledger).".to_string(),
    ];
    if let PrivacyUnit::Column { column, max_rows } = unit {
        v.push(format!(
            "The privacy unit ({column}) and the bound of {max_rows} record(s) per unit used."
        ));
    }
    if ledger {
        v.push("The lifetime ledger's budget and the privacy loss of every earlier release charged to it.".into());
    }
    v.push("Not disclosed: the true number of records. The number of synthetic records is either chosen by the curator or the model's noisy estimate (a DP output).".into());
    v
}

/// The implementation (NIST SP 800-226's implementation pitfalls: which library, which
/// samplers, which randomness).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Implementation {
    pub dpsynth_version: String,
    /// Cargo features this build was compiled with.
    pub features: Vec<String>,
    pub opendp_version: String,
    /// Where the noise comes from (see also the certificate's `noise`).
    pub noise_rng: String,
    /// The randomness of post-processing (sampling records from the model).
    pub sampling_rng: String,
    /// The randomness that chooses which records of a unit are kept (privacy unit only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation_rng: Option<String>,
    /// Integer counts with exact discrete noise; no floating-point noise anywhere.
    pub arithmetic: String,
    /// `release` or `debug` (a debug build's noise is the same; it is only slower).
    pub build_profile: String,
    pub target: String,
}

impl Implementation {
    pub fn current(unit: &PrivacyUnit) -> Self {
        let noise = crate::privacy::NoiseKind::current();
        let mut features = Vec::new();
        if cfg!(feature = "openssl-rng") {
            features.push("openssl-rng".to_string());
        }
        Implementation {
            dpsynth_version: env!("CARGO_PKG_VERSION").into(),
            features,
            opendp_version: OPENDP_VERSION.into(),
            noise_rng: noise.rng,
            sampling_rng: "ChaCha20 (rand_chacha) seeded with the certificate's sampling seed: post-processing only, so a release can be re-drawn from its model".into(),
            truncation_rng: (!unit.is_record()).then(|| {
                "ChaCha20 keyed from opendp's secure random bytes (never seedable)".to_string()
            }),
            arithmetic: "exact integer counts (i64) with exact discrete Gaussian noise; privacy costs composed in exact rationals and rounded up".into(),
            build_profile: if cfg!(debug_assertions) { "debug" } else { "release" }.into(),
            target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        }
    }
}

/// The release context: who released it and why, given by the operator; an id and the
/// start time. Free text is the operator's: dpsynth never fills it from the data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaseContext {
    /// 128 random bits, hex: names this release in ledgers, registries and data cards.
    pub id: String,
    /// When the run started (UTC, to the second), taken before any data was read, so it
    /// says nothing about how long counting took.
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// An opaque name for the input data set chosen by the curator (never a hash of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_label: Option<String>,
}

impl ReleaseContext {
    /// A fresh context: a random id and the current time. Call it before reading data.
    pub fn start(
        curator: Option<String>,
        purpose: Option<String>,
        dataset_label: Option<String>,
    ) -> Result<Self, String> {
        for (flag, v) in [
            ("--curator", &curator),
            ("--purpose", &purpose),
            ("--dataset-label", &dataset_label),
        ] {
            if let Some(s) = v {
                check_text(flag, s)?;
            }
        }
        if let Some(l) = &dataset_label {
            if looks_like_digest(l) {
                return Err(format!(
                    "--dataset-label {l:?} looks like a hash; the label is an opaque name chosen by the curator, and a hash of the input would be a function of the private data. Choose a name such as \"admissions-2026-q3\"."
                ));
            }
        }
        Ok(ReleaseContext {
            id: hex::encode(rand::random::<[u8; 16]>()),
            started: now_utc(),
            curator,
            purpose,
            dataset_label,
        })
    }
}

fn check_text(flag: &str, s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err(format!("{flag} must not be empty"));
    }
    if s.chars().count() > 2000 {
        return Err(format!("{flag} is longer than 2000 characters"));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!("{flag} contains control characters"));
    }
    Ok(())
}

/// A run of 32 or more hexadecimal digits (or 40+ base64 characters without spaces) reads
/// as a digest.
pub(crate) fn looks_like_digest(s: &str) -> bool {
    let mut run = 0usize;
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            run += 1;
            if run >= 32 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    let b64 = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .count();
    !s.contains(char::is_whitespace)
        && b64 == s.chars().count()
        && s.len() >= 40
        && s.chars().any(|c| c.is_ascii_digit())
}

/// The current time in UTC, RFC 3339 to the second.
pub fn now_utc() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    chrono::DateTime::from_timestamp(d.as_secs() as i64, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// An earlier release charged to the same lifetime ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorRelease {
    pub number: u64,
    /// `released`, `reserved` (in progress or killed: counted in full) or `failed`.
    pub status: String,
    /// What counts against the lifetime budget.
    pub rho: f64,
    /// SHA-256 of that release's certificate (of its model file for `dpsynth fit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_sha256: Option<String>,
}

/// Utility figures, from DP outputs only (`accuracy.json`): never a comparison with the
/// real data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Utility {
    pub source: String,
    pub confidence: f64,
    /// Mean and worst estimated error (L1 distance between normalised tables, 0 to 2) over
    /// the marginals of each size.
    pub by_size: Vec<UtilitySize>,
    /// Codes of the fitness warnings (texts in accuracy.json and README.txt).
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UtilitySize {
    pub k: usize,
    pub marginals: usize,
    pub mean_error: f64,
    pub max_error: f64,
}

impl Utility {
    pub fn of(acc: &AccuracyReport) -> Self {
        Utility {
            source: "accuracy.json: error estimates and bounds computed from the DP model alone (proofs/accuracy.md); no real-versus-synthetic comparison".into(),
            confidence: acc.confidence,
            by_size: acc
                .summary
                .iter()
                .map(|s| UtilitySize {
                    k: s.k,
                    marginals: s.cliques,
                    mean_error: s.mean_estimate,
                    max_error: s.max_estimate,
                })
                .collect(),
            warnings: acc.warnings.iter().map(|w| w.code.clone()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opendp_version_is_the_locked_one() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
        let i = lock.find("name = \"opendp\"\nversion = \"").unwrap();
        let rest = &lock[i + "name = \"opendp\"\nversion = \"".len()..];
        assert_eq!(&rest[..rest.find('"').unwrap()], OPENDP_VERSION);
    }

    #[test]
    fn labels_that_look_like_hashes_are_refused() {
        let h = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert!(ReleaseContext::start(None, None, Some(h.into())).is_err());
        assert!(ReleaseContext::start(None, None, Some(format!("adm-{}", &h[..32]))).is_err());
        assert!(ReleaseContext::start(
            None,
            None,
            Some("n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=".into())
        )
        .is_err());
        let ok = ReleaseContext::start(
            Some("St Elsewhere Hospital".into()),
            Some("teaching".into()),
            Some("admissions-2026-q3".into()),
        )
        .unwrap();
        assert_eq!(ok.id.len(), 32);
        assert_ne!(ok.id, ReleaseContext::start(None, None, None).unwrap().id);
        assert!(ReleaseContext::start(Some("  ".into()), None, None).is_err());
        assert!(ReleaseContext::start(None, Some("a\u{7}b".into()), None).is_err());
    }

    #[test]
    fn unprotected_never_offers_the_row_count() {
        for unit in [PrivacyUnit::Record, PrivacyUnit::column("pid", 3).unwrap()] {
            let u = unprotected(&unit, true);
            assert!(u
                .last()
                .unwrap()
                .starts_with("Not disclosed: the true number"));
            assert!(u.iter().any(|s| s.contains("public schema")));
        }
    }
}
