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

use crate::privacy::{LedgerEntry, NoiseKind};

use super::ReleaseError;

pub const CERTIFICATE_FORMAT: &str = "dpsynth-certificate";
pub const CERTIFICATE_VERSION: u32 = 1;

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
    pub neighbouring: String,
    pub conversion: String,
    /// The guarantee in plain words.
    pub statement: String,
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
        let v = serde_json::to_value(&unsigned).unwrap_or(serde_json::Value::Null);
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

/// Describes an output file for the certificate.
pub fn describe_output(path: &Path, name: &str, is_csv: bool) -> Result<OutputFile, ReleaseError> {
    let (sha256, bytes) = sha256_file(path)?;
    let rows = if is_csv { Some(csv_rows(path)?) } else { None };
    Ok(OutputFile {
        file: name.into(),
        sha256,
        bytes,
        rows,
    })
}

/// Plain-words statement of a guarantee.
pub fn statement(epsilon: f64, delta: f64, rho: f64) -> String {
    format!(
        "Adding or removing any one person's record changes the probability of any outcome of this release by at most a factor of e^{epsilon:.4} (plus {delta:e}): ({epsilon:.4}, {delta:e})-differential privacy, from {rho:.6}-zCDP."
    )
}
