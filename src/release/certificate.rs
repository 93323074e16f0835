//! The certificate: what guarantee a release carries, how the budget was spent, and
//! hashes of the output files. It holds nothing computed from the private input except DP
//! outputs (the ledger's measured cliques and, through the files, the noisy row count).
//!
//! Canonical bytes (what hashes and signatures cover): the certificate without its
//! `signature` field, serialised by serde_json as compact JSON with object keys sorted
//! (serde_json's default map is ordered), numbers in serde_json's shortest round-trip
//! form, UTF-8, no trailing newline. See docs/certificate.md.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::privacy::{LedgerEntry, NoiseKind, PrivacyUnit};

use super::governance::{Deployment, Implementation, PriorRelease, ReleaseContext, Utility};
use super::ReleaseError;

pub const CERTIFICATE_FORMAT: &str = "dpsynth-certificate";
/// Version 2 added `guarantee.privacy_unit` and `guarantee.lifetime`, then (issue #19) the
/// optional blocks `release`, `deployment`, `implementation`, `utility` and
/// `guarantee.lifetime.prior_releases`, which early version 2 certificates lack.
pub const CERTIFICATE_VERSION: u32 = 2;
/// Versions `dpsynth verify` reads. Version 1 (record-level releases only) has no
/// `guarantee.privacy_unit`: absent, it means `"record"`; its canonical bytes omit it, so
/// signatures made by the version 1 tool still verify.
pub const CERTIFICATE_VERSIONS_READ: [u32; 2] = [1, 2];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub format: String,
    pub format_version: u32,
    pub tool: Tool,
    pub guarantee: Guarantee,
    pub mechanism: MechanismInfo,
    pub ledger: Vec<LedgerEntry>,
    pub schema: SchemaInfo,
    pub outputs: Vec<OutputFile>,
    pub noise: NoiseKind,
    pub sampling: Sampling,
    /// Who released it, why, when it started, and its id (issue #19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseContext>,
    /// The deployment model, where counting ran, and what DP does not protect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    /// dpsynth and opendp versions, features, samplers and randomness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<Implementation>,
    /// Utility figures from DP outputs only (accuracy.json's summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utility: Option<Utility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn current() -> Self {
        Tool {
            name: "dpsynth".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Guarantee {
    /// rho-zCDP actually spent: the sum of the ledger's rho.
    pub rho: f64,
    /// The budget the run was allowed (spent <= budget).
    pub budget_rho: f64,
    /// The epsilon implied by `rho` at `delta`.
    pub epsilon: f64,
    pub delta: f64,
    /// Whose privacy is protected: `"record"`, or `{ "column": C, "max_rows": K }` (one value
    /// of the id column C with all of its records, at most K of which were used).
    /// Absent in version 1 certificates, which are all record-level.
    #[serde(default)]
    pub privacy_unit: PrivacyUnit,
    /// The neighbouring relation in words (follows from `privacy_unit`).
    pub neighbouring: String,
    pub conversion: String,
    /// The guarantee in plain words.
    pub statement: String,
    /// When the run was charged to a lifetime ledger: where this release leaves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<Lifetime>,
}

/// A release's place in a lifetime privacy ledger (`dpsynth ledger`): the total over every
/// release charged to that ledger so far, this one included. All figures are public (budgets
/// and DP outputs' costs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lifetime {
    /// The ledger's random identifier (releases from one ledger share it).
    pub ledger_id: String,
    /// This release's number in the ledger (1-based, in the order runs reserved budget).
    pub release: u64,
    /// rho of every release in the ledger up to and including this one.
    pub cumulative_rho: f64,
    /// The ledger's lifetime budget.
    pub budget_rho: f64,
    /// The epsilon that `cumulative_rho` gives at `delta`.
    pub cumulative_epsilon: f64,
    /// The ledger's delta.
    pub delta: f64,
    /// Every earlier release charged to the ledger when this one reserved its budget
    /// (absent in certificates written before issue #19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_releases: Option<Vec<PriorRelease>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MechanismInfo {
    pub name: String,
    /// Public options of the run (never data-derived).
    pub options: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchemaInfo {
    pub sha256: String,
    /// The public schema, as given.
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputFile {
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    /// Data rows (CSV files only; header excluded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub seed: u64,
    pub method: String,
    /// "user" (--rows) or "model total" (post-processing of noisy measurements).
    pub rows_source: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub algorithm: String,
    pub public_key: String,
    pub fingerprint: String,
    pub value: String,
}

impl Certificate {
    /// The bytes that hashes and signatures cover (see the module docs).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut unsigned = self.clone();
        unsigned.signature = None;
        // Going through Value sorts object keys.
        let mut v = serde_json::to_value(&unsigned).unwrap_or(serde_json::Value::Null);
        if self.format_version == 1 {
            // Version 1 had no privacy unit (record-level only): its bytes never held one.
            // `verify` rejects a version 1 certificate whose unit is not the record.
            if let Some(g) = v.get_mut("guarantee").and_then(|g| g.as_object_mut()) {
                g.remove("privacy_unit");
            }
        }
        serde_json::to_vec(&v).unwrap_or_default()
    }

    /// Pretty JSON for the file on disk (verification re-canonicalises, so layout is free).
    pub fn to_pretty_json(&self) -> String {
        let v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    }
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<(String, u64), ReleaseError> {
    let f = File::open(path).map_err(|e| ReleaseError::Io(path.to_path_buf(), e))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let k = r
            .read(&mut buf)
            .map_err(|e| ReleaseError::Io(path.to_path_buf(), e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Number of CSV records in a file (header excluded), counted with the csv parser so quoted
/// newlines are handled.
pub fn csv_rows(path: &Path) -> Result<u64, ReleaseError> {
    let f = File::open(path).map_err(|e| ReleaseError::Io(path.to_path_buf(), e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(BufReader::with_capacity(1 << 20, f));
    let mut rec = csv::ByteRecord::new();
    let mut n = 0u64;
    while rdr
        .read_byte_record(&mut rec)
        .map_err(|e| ReleaseError::Io(path.to_path_buf(), io::Error::other(e.to_string())))?
    {
        n += 1;
    }
    Ok(n)
}

/// Number of data rows of a CSV (header excluded) or Parquet file (from its footer).
pub fn data_rows(path: &Path) -> Result<u64, ReleaseError> {
    if crate::data::is_parquet(path) {
        crate::data::parquet_rows(path).map_err(|e| ReleaseError::Format(e.to_string()))
    } else {
        csv_rows(path)
    }
}

/// Describes an output file for the certificate; `is_data`: a CSV or Parquet file whose
/// rows are counted.
pub fn describe_output(path: &Path, name: &str, is_data: bool) -> Result<OutputFile, ReleaseError> {
    let (sha256, bytes) = sha256_file(path)?;
    let rows = if is_data {
        Some(data_rows(path)?)
    } else {
        None
    };
    Ok(OutputFile {
        file: name.into(),
        sha256,
        bytes,
        rows,
    })
}

/// Plain-words statement of a guarantee. It names the unit: "record" for a record-level
/// release (never "person": a person may have several records), the unit column otherwise.
pub fn statement(epsilon: f64, delta: f64, rho: f64, unit: &PrivacyUnit) -> String {
    let per = match unit {
        PrivacyUnit::Record => "per record".to_string(),
        PrivacyUnit::Column { column, .. } => format!("per {column} value"),
    };
    format!(
        "Adding or removing {} changes the probability of any outcome of this release by at most a factor of e^{epsilon:.4} (plus {delta:e}): ({epsilon:.4}, {delta:e})-differential privacy {per}, from {rho:.6}-zCDP.",
        unit.protected()
    )
}
