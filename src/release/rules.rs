//! The rules a certificate's ledger must follow for the mechanism it names: what
//! `dpsynth verify` checks beyond arithmetic (issue #13, item 7).
//!
//! Each rule is recomputed with the very functions the mechanisms use, from the
//! certificate's public parts only (its privacy unit, its options, its workload), so a
//! certificate that states a smaller sensitivity, a monotone score or a budget split other
//! than its mechanism's fails ([`Rules::sensitivity`], [`Rules::check_ledger`]). Proofs of the rules: proofs/mst.md, proofs/aim.md,
//! proofs/privacy-unit.md (section 2), proofs/exponential-selection.md.

use super::Certificate;
use crate::marginal::Clique;
use crate::mechanism::{aim::selection_sensitivity, Workload};
use crate::privacy::{gaussian_rho, noisy_max_rho, LedgerEntry, PrivacyUnit};

/// What the certificate's mechanism and unit imply for its ledger.
#[derive(Clone, Debug)]
pub struct Rules {
    unit: PrivacyUnit,
    mechanism: String,
    /// AIM: the selection sensitivity of the run (one number, from the workload).
    aim_selection: Option<f64>,
    /// AIM: the listed `rounds_planned` and `selection_share`.
    aim_options: Option<(usize, f64)>,
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
        let o = &cert.mechanism.options;
        let aim_options = o["rounds_planned"]
            .as_u64()
            .zip(o["selection_share"].as_f64())
            .map(|(t, s)| (t as usize, s));
        Ok(Rules {
            unit: cert.guarantee.privacy_unit.clone(),
            mechanism: cert.mechanism.name.clone(),
            aim_selection,
            aim_options,
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

/// Relative tolerance of the budget-split rules: the charged rho is opendp's map of a scale
/// computed from the nominal rho, equal to it up to a few ulps.
const SPLIT_TOL: f64 = 1e-6;

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= SPLIT_TOL * a.abs().max(b.abs())
}

impl Rules {
    /// The rho a step costs under the mechanism's own sensitivity (not the one it states):
    /// opendp's map of its scale. Editing a stated sensitivity does not move it.
    fn rule_rho(&self, step: &LedgerEntry) -> Result<f64, String> {
        let s = self.sensitivity(step)?;
        match step.mechanism.as_str() {
            "gaussian" => gaussian_rho(step.scale, s as u32),
            _ => noisy_max_rho(step.scale, s, false),
        }
        .map_err(|e| e.to_string())
    }

    /// Checks the ledger's shape and budget split against the mechanism's rules and the
    /// certificate's listed options (issue #13, item 7):
    /// - no selection step claims a monotone score (neither MST's nor AIM's is);
    /// - MST (proofs/mst.md): `d` one-way marginals at one scale, then `d - 1` edge
    ///   selections at one scale, then `d - 1` edge marginals at one scale, each phase a
    ///   third of the total (all of it on the one-way with a single column);
    /// - AIM (proofs/aim.md): `d` one-way marginals, each `(1 - s) / T` of the total for the
    ///   listed `rounds_planned` `T` and `selection_share` `s`; then rounds of one selection
    ///   and one measurement whose rho are in the ratio `s : 1 - s`, each round's
    ///   measurement the previous one's or four times it (annealing), except the last,
    ///   which spends what is left.
    ///
    /// Rho here is re-derived from each step's scale with the rule's sensitivity, so this
    /// check is independent of the stated sensitivities (the privacy-unit check's subject).
    pub fn check_ledger(&self, cert: &Certificate) -> Result<String, String> {
        let ledger = &cert.ledger;
        if ledger.is_empty() {
            return Err("the ledger has no steps".into());
        }
        if let Some(i) = ledger.iter().position(|e| e.monotone) {
            return Err(format!(
                "step {} ({}) claims a monotone score; {}'s selection scores are not monotone",
                i + 1,
                ledger[i].purpose,
                self.mechanism
            ));
        }
        let rhos = ledger
            .iter()
            .map(|e| self.rule_rho(e))
            .collect::<Result<Vec<f64>, String>>()?;
        let total: f64 = rhos.iter().sum();
        let is_gauss: Vec<bool> = ledger.iter().map(|e| e.mechanism == "gaussian").collect();
        let d = is_gauss.iter().take_while(|&&g| g).count();
        match self.mechanism.as_str() {
            "mst" => check_mst(ledger, &rhos, total, d),
            "aim" => check_aim(&self.aim_options, &is_gauss, &rhos, total, d),
            other => Err(format!("unknown mechanism {other:?}")),
        }
    }
}

/// MST's three phases (see [`Rules::check_ledger`]).
fn check_mst(ledger: &[LedgerEntry], rhos: &[f64], total: f64, d: usize) -> Result<String, String> {
    if d == ledger.len() {
        return if d == 1 {
            Ok("MST on one column: its one-way marginal spends the budget".into())
        } else {
            Err(format!(
                "{d} one-way marginals and no tree: MST selects d - 1 edges"
            ))
        };
    }
    let e = d.saturating_sub(1);
    let phases = [
        ("one-way marginals", "gaussian", 0..d),
        ("edge selections", "noisy_max", d..d + e),
        ("edge marginals", "gaussian", d + e..d + 2 * e),
    ];
    if ledger.len() != d + 2 * e {
        return Err(format!(
            "{} steps after {d} one-way marginals; MST has {e} edge selections and {e} edge marginals",
            ledger.len() - d
        ));
    }
    for (name, mech, range) in phases {
        let steps = &ledger[range.clone()];
        if let Some(s) = steps.iter().find(|s| s.mechanism != mech) {
            return Err(format!("{name}: a {} step ({})", s.mechanism, s.purpose));
        }
        if steps.iter().any(|s| s.scale != steps[0].scale) {
            return Err(format!("{name}: the steps do not share one noise scale"));
        }
        let sum: f64 = rhos[range].iter().sum();
        if !near(sum, total / 3.0) {
            return Err(format!(
                "{name} spend rho {sum:e}, not a third of the total {total:e}"
            ));
        }
    }
    Ok(format!(
        "MST: {d} one-way marginals, {e} edge selections, {e} edge marginals, a third of the budget each"
    ))
}

/// AIM's initialisation and rounds (see [`Rules::check_ledger`]).
fn check_aim(
    opts: &Option<(usize, f64)>,
    is_gauss: &[bool],
    rhos: &[f64],
    total: f64,
    d: usize,
) -> Result<String, String> {
    let (rounds, share) =
        opts.ok_or("the AIM options list no rounds_planned and selection_share")?;
    let share = share.clamp(1e-6, 0.99);
    // `d` counts the leading measurements: the one-ways, or, for a small table, both passes
    // over them (the second pass all at one rho, the one-ways holding at most 0.9 of the
    // budget; `OneWays::measure`).
    let first_for = |d: usize| (1.0 - share) * total / rounds.max(d + 1) as f64;
    let second_pass =
        d.is_multiple_of(2) && d > 0 && rhos[..d].iter().any(|&r| !near(r, first_for(d)));
    let ones = d;
    let d = if second_pass { d / 2 } else { d };
    // As `aim` reads them.
    let rounds = rounds.max(d + 1);
    let first = first_for(d);
    if second_pass {
        let r2 = rhos[d];
        if let Some(i) = (d..2 * d).find(|&i| !near(rhos[i], r2)) {
            return Err(format!(
                "second-pass one-way marginal {} spends rho {:e}, not the pass's {r2:e}",
                i - d + 1,
                rhos[i]
            ));
        }
        let one_way_total: f64 = rhos[..2 * d].iter().sum();
        if one_way_total > 0.9 * total * (1.0 + 1e-9) {
            return Err(format!(
                "the one-way marginals spend rho {one_way_total:e}, more than 0.9 of the total {total:e}"
            ));
        }
    }
    let rest = &is_gauss[ones..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) || rest.chunks(2).any(|p| p[0] || !p[1]) {
        return Err(format!(
            "after {d} one-way marginals the ledger is not rounds of one selection then one measurement"
        ));
    }
    if let Some(i) = (0..d).find(|&i| !near(rhos[i], first)) {
        return Err(format!(
            "one-way marginal {} spends rho {:e}; {rounds} planned rounds with selection share {share} give {first:e}",
            i + 1,
            rhos[i]
        ));
    }
    let n = rest.len() / 2;
    let mut measure = first;
    for k in 0..n {
        let (sel, meas) = (rhos[ones + 2 * k], rhos[ones + 2 * k + 1]);
        if !near(sel * (1.0 - share), meas * share) {
            return Err(format!(
                "round {}: selection rho {sel:e} and measurement rho {meas:e} are not in the ratio {share} : {}",
                k + 1,
                1.0 - share
            ));
        }
        if k + 1 < n {
            if near(meas, 4.0 * measure) {
                measure *= 4.0;
            } else if !near(meas, measure) {
                return Err(format!(
                    "round {}: measurement rho {meas:e} is neither the previous round's {measure:e} nor four times it",
                    k + 1
                ));
            }
        }
    }
    let again = if second_pass {
        " (and again, for a small table)"
    } else {
        ""
    };
    Ok(format!(
        "AIM: {d} one-way marginals at 1/{rounds} of the budget{again}, then {n} rounds splitting {share} : {} between selection and measurement",
        1.0 - share
    ))
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
