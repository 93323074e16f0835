//! Mechanisms: decide what to measure, spend the budget through the accountant, and hand
//! the noisy marginals to the model. They read data only through a `MarginalOracle`.

pub mod aim;
pub mod compress;
pub mod measure;
pub mod mst;
pub mod score;

use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::marginal::OracleError;
use crate::model::{
    sample, EstimationReport, GraphicalModel, Measurement, ModelError, SamplingMethod,
};
use crate::privacy::{Budget, LedgerEntry, PrivacyError, PrivacyUnit};

pub use aim::{aim, AimOptions, Workload};
pub use compress::Compression;
pub use mst::{mst, MstOptions};

#[derive(Debug, thiserror::Error)]
pub enum MechanismError {
    #[error("the schema has no modelled columns")]
    EmptyDomain,
    #[error(
        "no candidate marginal fits under the model size cap of {0} MB; raise --max-model-size"
    )]
    NoCandidate(f64),
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Oracle(#[from] OracleError),
}

/// A fitted DP model and everything a release needs to describe how it was made.
/// All of it is DP output or public: it may be shared.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fitted {
    pub mechanism: String,
    pub budget: Budget,
    /// Whose privacy the run protects; every sensitivity in the ledger follows from it.
    /// (Model files written before units existed are record-level.)
    #[serde(default)]
    pub unit: PrivacyUnit,
    pub ledger: Vec<LedgerEntry>,
    /// Sum of the ledger's rho, as the accountant added it.
    pub spent: f64,
    pub compression: Compression,
    pub measurements: Vec<Measurement>,
    pub model: GraphicalModel,
    #[serde(skip)]
    pub estimation: EstimationReport,
    /// Wall time per phase, for the operator's terminal only (never written to a release).
    #[serde(skip)]
    pub phases: Vec<(String, Duration)>,
}

impl Fitted {
    /// Number of rows to synthesise when the user gives none: the model's total, which is
    /// estimated from noisy measurements only (proofs/row-count.md). Never the true count.
    pub fn default_rows(&self) -> usize {
        let t = self.model.total();
        if t.is_finite() && t >= 1.0 {
            t.round() as usize
        } else {
            1
        }
    }

    /// Samples `rows` records in original codes (column-major). Post-processing: uses only
    /// the model, the compression map and the seed.
    pub fn synthesize(&self, rows: usize, seed: u64, method: SamplingMethod) -> Vec<Vec<u32>> {
        let mut columns = sample(&self.model, rows, seed, method);
        // A separate stream for decompression keeps it independent of the sampler's draws.
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x6465_636f_6d70_7265);
        self.compression.decompress(&mut columns, &mut rng);
        columns
    }
}

/// Progress reporting, so the library stays free of terminal concerns. Messages are phase
/// names and step counts only: never data-derived values.
pub trait Progress {
    fn start(&self, _phase: &str, _steps: usize) {}
    fn inc(&self) {}
    /// A status line (phase-level figures that are DP outputs or public, never raw data).
    fn message(&self, _msg: &str) {}
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Which mechanism to run, with its options.
#[derive(Clone, Debug)]
pub enum MechanismSpec {
    Mst(MstOptions),
    Aim(AimOptions, Workload),
}

impl MechanismSpec {
    pub fn name(&self) -> &'static str {
        match self {
            MechanismSpec::Mst(_) => "mst",
            MechanismSpec::Aim(..) => "aim",
        }
    }

    /// The privacy unit the mechanism will honour.
    pub fn unit(&self) -> &PrivacyUnit {
        match self {
            MechanismSpec::Mst(o) => &o.unit,
            MechanismSpec::Aim(o, _) => &o.unit,
        }
    }

    /// Sets the privacy unit (the caller truncates the data to match: `data::truncate_units`).
    pub fn set_unit(&mut self, unit: PrivacyUnit) {
        match self {
            MechanismSpec::Mst(o) => o.unit = unit,
            MechanismSpec::Aim(o, _) => o.unit = unit,
        }
    }

    /// Public options for the certificate.
    pub fn options_json(&self, domain: &crate::marginal::Domain) -> serde_json::Value {
        match self {
            MechanismSpec::Mst(o) => serde_json::json!({
                "compress": o.compress,
                "compress_threshold_sigmas": o.compress_sigmas,
                "estimation_max_iters": o.estimation.max_iters,
            }),
            MechanismSpec::Aim(o, w) => serde_json::json!({
                "rounds_planned": o.rounds.unwrap_or(16 * domain.len()).max(domain.len() + 1),
                "max_model_size_mb": o.max_model_size_mb,
                "selection_share": o.selection_share,
                "workload": w.cliques.iter().map(|(c, wt)| serde_json::json!({
                    "columns": c.attrs().iter().map(|&a| domain.name(a)).collect::<Vec<_>>(),
                    "weight": wt,
                })).collect::<Vec<_>>(),
            }),
        }
    }
}

/// Runs the chosen mechanism.
pub fn fit<O: crate::marginal::MarginalOracle>(
    oracle: &O,
    budget: Budget,
    spec: &MechanismSpec,
    progress: &dyn Progress,
) -> Result<Fitted, MechanismError> {
    match spec {
        MechanismSpec::Mst(o) => mst(oracle, budget, o, progress),
        MechanismSpec::Aim(o, w) => aim(oracle, budget, w, o, progress),
    }
}
