//! The rules a certificate's ledger must follow for the mechanism it names: what
//! `dpsynth verify` checks beyond arithmetic (issue #13, item 7).
//!
//! Each rule is recomputed with the very functions the mechanisms use, from the
//! certificate's public parts only (its privacy unit, its options, its workload), so a
//! certificate that states a smaller sensitivity, a monotone score or a budget split other
//! than its mechanism's fails. Proofs of the rules: proofs/mst.md, proofs/aim.md,
//! proofs/privacy-unit.md (section 2), proofs/exponential-selection.md.

use super::Certificate;
use crate::marginal::Clique;
use crate::mechanism::{aim::selection_sensitivity, Workload};
use crate::privacy::{LedgerEntry, PrivacyUnit};

/// What the certificate's mechanism and unit imply for its ledger.
#[derive(Clone, Debug)]
pub struct Rules {
    unit: PrivacyUnit,
    mechanism: String,
    /// AIM: the selection sensitivity of the run (one number, from the workload).
    aim_selection: Option<f64>,
}

impl Rules {
    /// The rules of `cert`'s mechanism; an error for an unknown mechanism or an AIM
    /// certificate without a readable workload.
    pub fn of(cert: &Certificate) -> Result<Self, String> {
        let aim_selection = match cert.mechanism.name.as_str() {
            "mst" => None,
            "aim" => Some(selection_sensitivity(
                &workload_of(&cert.mechanism.options)?
                    .candidates()
                    .into_values()
                    .collect::<Vec<_>>(),
                &cert.guarantee.privacy_unit,
            )),
            other => return Err(format!("unknown mechanism {other:?}")),
        };
        Ok(Rules {
            unit: cert.guarantee.privacy_unit.clone(),
            mechanism: cert.mechanism.name.clone(),
            aim_selection,
        })
    }

    /// The sensitivity a ledger step must state, given the certificate's unit:
    /// - a Gaussian marginal: `K` (`PrivacyUnit::marginal_sensitivity`; 1 for a record);
    /// - MST's edge selection: `K` (its exact L1 scores move by at most 1 per record);
    /// - AIM's selection: `aim::selection_sensitivity` of the workload's candidate weights
    ///   (`K` times the largest weight, plus the bound on the weight's rounding).
    pub fn sensitivity(&self, step: &LedgerEntry) -> Result<f64, String> {
        match (step.mechanism.as_str(), self.aim_selection) {
            ("gaussian", _) => Ok(self.unit.marginal_sensitivity() as f64),
            ("noisy_max", None) => Ok(self.unit.score_sensitivity(1.0)),
            ("noisy_max", Some(s)) => Ok(s),
            (m, _) => Err(format!("no {m} steps in {}", self.mechanism)),
        }
    }
}

/// The workload recorded in an AIM certificate's options, with columns numbered in order of
/// first appearance (weights depend only on the cliques' overlaps, not on the numbering).
pub fn workload_of(options: &serde_json::Value) -> Result<Workload, String> {
    let bad = || "the AIM options carry no readable workload".to_string();
    let mut names: Vec<String> = Vec::new();
    let mut cliques = Vec::new();
    for w in options["workload"].as_array().ok_or_else(bad)? {
        let weight = w["weight"].as_f64().ok_or_else(bad)?;
        let mut attrs = Vec::new();
        for c in w["columns"].as_array().ok_or_else(bad)? {
            let c = c.as_str().ok_or_else(bad)?;
            let i = names.iter().position(|n| n == c).unwrap_or_else(|| {
                names.push(c.to_string());
                names.len() - 1
            });
            attrs.push(i);
        }
        cliques.push((Clique::new(attrs), weight));
    }
    Ok(Workload { cliques })
}
