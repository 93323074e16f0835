//! `dpsynth registry-entry`: a release's record for the DP Deployments Registry
//! (registry.opendp.org; fields as in its `deployments-schema.yaml`, after Ghazi,
//! Nanayakkara and Vadhan, arXiv 2509.13509), at Tier 3. Every field is mapped from the
//! certificate (docs/registry.md has the table) or from the operator's flags: nothing is
//! computed from the private input except DP outputs (the synthetic row count, the noisy
//! costs), and the certificate holds nothing else (proofs/release-metadata.md).

use serde_json::{json, Value};

use super::verify::phases;
use super::Certificate;
use crate::privacy::PrivacyUnit;
use crate::schema::{ColumnKind, Schema};

/// What the operator adds that a certificate does not hold.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// `data_product_region`; "Not specified" when absent.
    pub region: Option<String>,
    /// `data_product_sector` (one of the registry's sectors), omitted when absent.
    pub sector: Option<String>,
    /// `administrative.registry_authors`; the curator when absent.
    pub authors: Vec<String>,
}

/// The registry's sectors (`data_product_sector` enum).
pub const SECTORS: [&str; 6] = [
    "Technology",
    "Healthcare",
    "Education",
    "Government",
    "Energy",
    "Finance",
];

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn data_domain(schema: &Schema) -> String {
    let cols: Vec<String> = schema
        .columns()
        .iter()
        .filter(|c| !matches!(c.kind(), ColumnKind::Skip))
        .map(|c| format!("{} ({})", c.name(), c.kind().name()))
        .collect();
    format!(
        "Tables of any number of records with the columns of the public schema embedded in the certificate: {}. Categorical values, numeric bounds and bins, date ranges and rules are those of the schema; values outside it are input errors or clamped to the bounds, never learned from the data.",
        cols.join(", ")
    )
}

/// The Tier 3 entry of a release, as JSON (the `--json` form; YAML is the same tree).
pub fn registry_entry(
    cert: &Certificate,
    schema: &Schema,
    opts: &RegistryOptions,
) -> Result<Value, String> {
    let r = cert
        .release
        .as_ref()
        .ok_or("the certificate has no release block (made before dpsynth wrote release contexts); re-release it to get a registry entry")?;
    let d = cert
        .deployment
        .as_ref()
        .ok_or("the certificate has no deployment block")?;
    let imp = cert
        .implementation
        .as_ref()
        .ok_or("the certificate has no implementation block")?;
    if let Some(s) = &opts.sector {
        if !SECTORS.contains(&s.as_str()) {
            return Err(format!(
                "--sector {s:?} is not one of the registry's sectors: {}",
                SECTORS.join(", ")
            ));
        }
    }
    let g = &cert.guarantee;
    let label = r.dataset_label.as_deref().unwrap_or("synthetic data");
    let curator = r.curator.clone().unwrap_or_else(|| "Not stated".into());
    let data = cert.outputs.iter().find(|o| o.rows.is_some());
    let rows = data.and_then(|o| o.rows).unwrap_or(0);
    let mech = cert.mechanism.name.to_uppercase();
    let (unit, unit_details) = match &g.privacy_unit {
        PrivacyUnit::Record => (
            "Record".to_string(),
            format!("Adjacent data sets differ by adding or removing one record (row) of the input table: {}. A person with several records is protected only as a group of records (group privacy).", g.neighbouring),
        ),
        PrivacyUnit::Column { column, max_rows } => (
            format!("One {column} value (all of its records)"),
            format!("Adjacent data sets differ by adding or removing all records of one value of the id column {column}: {}. Before any counting, each {column} value is limited to at most {max_rows} records chosen uniformly at random with a CSPRNG (a stable transformation; every sensitivity is multiplied by {max_rows}).", g.neighbouring),
        ),
    };
    let mut params_details = format!(
        "The run spent rho = {} of a budget rho = {} in zero-concentrated DP; {}. (epsilon, delta) = ({}, {:e}).",
        g.rho, g.budget_rho, g.conversion, g.epsilon, g.delta
    );
    let (release_type, release_details) = match &g.lifetime {
        Some(l) => {
            params_details += &format!(
                " Across all releases charged to the same lifetime ledger so far: rho {} (epsilon {} at delta {:e}) of a lifetime budget rho {}.",
                l.cumulative_rho, l.cumulative_epsilon, l.delta, l.budget_rho
            );
            let prior = l.prior_releases.as_ref().map_or(0, |p| p.len());
            (
                "Many releases",
                format!("Release {} charged to the lifetime privacy ledger {} of the curator, after {prior} earlier release(s) from the same data. The ledger reserves each run's whole budget before any noise is drawn and refuses runs that would exceed the lifetime budget; the budget never resets.", l.release, l.ledger_id),
            )
        }
        None => (
            "One release",
            "A single release; it was not charged to a lifetime privacy ledger, so the certificate cannot say whether other releases were made from the same data.".to_string(),
        ),
    };
    let phase_list: Vec<String> = phases(cert)
        .into_iter()
        .map(|(p, n, rho)| format!("{p}: {n} step(s), rho {rho:.6e}"))
        .collect();
    let composition = format!(
        "Sequential composition in zero-concentrated DP: the rho of the {} measurement and selection steps listed in the certificate's ledger add up to rho = {} ({}), converted once to (epsilon, delta). Adaptive choices (which marginals to measure) are made with the exponential mechanism and composed the same way.",
        cert.ledger.len(),
        g.rho,
        phase_list.join("; ")
    );
    let mut basic = json!({
        "name": format!("{label}: synthetic data (dpsynth release {})", &r.id[..8.min(r.id.len())]),
        "data_curators": [curator],
        "description": format!("{rows} synthetic records drawn from a graphical model fitted with {mech} (McKenna et al.) to differentially private marginals of the curator's table, with a certificate of the guarantee, a data card and a signed attestation."),
        "intended_use": r.purpose.clone().unwrap_or_else(|| "Not stated".into()),
        "data_product_type": "Synthetic data",
        "data_product_region": opts.region.clone().unwrap_or_else(|| "Not specified".into()),
        "publication_date": r.started.get(..10).unwrap_or("").to_string(),
    });
    if let Some(s) = &opts.sector {
        basic["data_product_sector"] = s.clone().into();
    }
    let authors = if opts.authors.is_empty() {
        vec![r
            .curator
            .clone()
            .unwrap_or_else(|| "dpsynth registry-entry".into())]
    } else {
        opts.authors.clone()
    };
    Ok(json!({
        "url_slug": format!("{}-{}", slug(label), &r.id[..8.min(r.id.len())]),
        "status": "Draft",
        "tier": 3,
        "deployment": {
            "basic": basic,
            "dp_variant": {
                "variant_name": "Zero-concentrated DP",
                "data_domain": data_domain(schema),
                "unprotected_quantities": d.unprotected.join(" "),
            },
            "privacy_loss": {
                "privacy_unit": unit,
                "privacy_unit_details": unit_details,
                "privacy_parameters": { "epsilon": g.epsilon, "delta": g.delta, "rho": g.rho },
                "privacy_parameters_details": params_details,
            },
            "deployment_model": {
                "model_name": "Central",
                "model_name_details": format!("{} Counting ran {}.", d.trust, d.counting_details),
                "actors": "The curator (trusted: holds the data and runs dpsynth); the recipients of the release and anyone they share it with (untrusted: the guarantee holds against any of them, whatever else they know). The operator's terminal output (data problems, optional timings) is private to the curator and not part of the release.",
                "release_type": release_type,
                "release_type_details": release_details,
                "data_source_type": "Static",
                "data_source_type_details": "One extract of the curator's table, read once per run.",
                "access_type": "Non-interactive",
                "access_type_details": "Recipients get files (synthetic records, the fitted model, accuracy estimates, certificate, data card); nobody can query the private data through the release. Further records sampled from the model are post-processing and cost no privacy.",
            },
            "accounting": {
                "post_processing": format!("A graphical model (Private-PGM) is fitted to the noisy marginals; {rows} records are sampled from it (method {}, seed {}) and decoded within the schema's bins; error estimates (accuracy.json), the data card and the certificate are computed from the model and the public schema only. None of these touch the private data.", cert.sampling.method, cert.sampling.seed),
                "composition": composition,
            },
            "implementation": {
                "preprocessing_and_hyperparameter_tuning": "The schema (value lists, bounds, bins, rules) is public knowledge supplied by the curator; dpsynth reads nothing about it from the data, and refuses a schema drafted from the data that was not reviewed. With a privacy unit, each unit's records are truncated to the stated bound at random before counting (accounted for in the sensitivities). The budget and mechanism options are the curator's choices (see the certificate); any tuning the curator did on the private data outside dpsynth is not accounted for here.",
                "mechanisms": format!("{mech} (McKenna et al.) in dpsynth {}: Gaussian mechanism on marginal counts (opendp {} make_gaussian, exact discrete Gaussian on integer counts) and exponential-mechanism selection (opendp make_noisy_max under zCDP). Noise randomness: {}. Arithmetic: {}. Not interactive, so no timing channel to an analyst; run times are never written to a release. Build: {} ({}), features: {}.", imp.dpsynth_version, imp.opendp_version, imp.noise_rng, imp.arithmetic, imp.build_profile, imp.target, imp.features.join(", ")),
                "justification": "dpsynth implements MST (the approach of the winning entry of the 2018 NIST differential privacy synthetic data challenge) and AIM (its workload-adaptive successor), both over Private-PGM (McKenna et al.); every privacy step has a written proof beside the code (proofs/), the certificate re-derives every cost from its noise scale with opendp's own privacy maps, and `dpsynth verify` checks it, the file hashes and the signature.",
            },
            "administrative": {
                "sources": format!("dpsynth certificate.json of release {} (data card DATACARD.md; attestation certificate.dsse.json); check it with `dpsynth verify`.", r.id),
                "notes": "Generated by `dpsynth registry-entry` from the release's certificate; review before submitting.",
                "registry_authors": authors,
            },
        },
    }))
}

/// YAML for a JSON tree: block mappings and sequences, every string as a double-quoted
/// scalar in JSON escaping (a JSON string literal is a valid YAML double-quoted scalar), so
/// no value can be misread (`no`, `1e-9`, `: `). Keys are the registry's plain names.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    emit(v, 0, &mut out);
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        Value::Number(n) if n.is_f64() => yaml_float(&n.to_string()),
        other => other.to_string(),
    }
}

/// A float as YAML 1.1 readers (PyYAML) also parse as a float: a dot in the mantissa and a
/// sign in the exponent (`1e-9` becomes `1.0e-9`, `2e20` becomes `2.0e+20`).
fn yaml_float(s: &str) -> String {
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mant = if mant.contains('.') {
        mant.to_string()
    } else {
        format!("{mant}.0")
    };
    match exp {
        Some(e) if e.starts_with(['-', '+']) => format!("{mant}e{e}"),
        Some(e) => format!("{mant}e+{e}"),
        None => mant,
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Object(o) if !o.is_empty()) || matches!(v, Value::Array(a) if !a.is_empty())
}

fn emit(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, x) in o {
                if is_block(x) {
                    out.push_str(&format!("{pad}{k}:\n"));
                    emit(x, indent + 2, out);
                } else {
                    out.push_str(&format!("{pad}{k}: {}\n", scalar(x)));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for x in a {
                if is_block(x) {
                    out.push_str(&format!("{pad}-\n"));
                    emit(x, indent + 2, out);
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(x)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quotes_every_string() {
        let v = json!({"a": {"b": ["no", "x: y"], "c": 1e-9, "d": []}, "e": "line\nbreak"});
        assert_eq!(
            to_yaml(&v),
            "a:\n  b:\n    - \"no\"\n    - \"x: y\"\n  c: 1.0e-9\n  d: []\ne: \"line\\nbreak\"\n"
        );
        assert_eq!(slug("Admissions 2023 / Q3"), "admissions-2023-q3");
        assert_eq!(yaml_float("2e20"), "2.0e+20");
        assert_eq!(yaml_float("0.5"), "0.5");
        assert_eq!(yaml_float("3"), "3.0");
    }
}
