//! `dpsynth verify`: re-derives every figure of a certificate from its ledger and checks the
//! files and signature. Needs nothing but the release directory (and optionally a key).

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use super::certificate::CERTIFICATE_VERSIONS_READ;
use super::certificate::{data_rows, sha256_file};
use super::rules::Rules;
use super::sign::check_signature;
use super::{sha256_bytes, Certificate, CERTIFICATE_FORMAT, CERTIFICATE_VERSION};
use crate::privacy::{epsilon_for, gaussian_rho, noisy_max_rho, Delta, PrivacyUnit, Rho, RhoSum};

/// Relative tolerance for re-derived floating-point figures (same opendp maps, same inputs:
/// they agree exactly on one platform; this only absorbs libm differences across machines).
const REL_TOL: f64 = 1e-9;

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
}

fn close(a: f64, b: f64) -> bool {
    a == b || ((a - b).abs() <= REL_TOL * a.abs().max(b.abs()))
}

/// Verifies the release in `dir`. Never panics on a malformed release: every problem is a
/// failed check.
pub fn verify_release(dir: &Path, public_key: Option<&VerifyingKey>) -> VerifyReport {
    let mut checks = Vec::new();
    let mut push = |name: &str, r: Result<String, String>| {
        let (ok, detail) = match r {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        checks.push(Check {
            name: name.into(),
            ok,
            detail,
        });
    };
    let cert_path = dir.join("certificate.json");
    let cert: Certificate = match std::fs::read_to_string(&cert_path)
        .map_err(|e| format!("{}: {e}", cert_path.display()))
        .and_then(|t| {
            serde_json::from_str(&t)
                .map_err(|e| format!("{}: not a valid certificate: {e}", cert_path.display()))
        }) {
        Ok(c) => {
            push("certificate", Ok(format!("{} parsed", cert_path.display())));
            c
        }
        Err(e) => {
            push("certificate", Err(e));
            return VerifyReport {
                ok: false,
                checks,
                certificate: None,
            };
        }
    };

    push("format version", check_format_version(&cert));

    // Noise from anything but opendp on OpenSSL's CSPRNG voids the guarantee (issue #13,
    // item 6): a build without the openssl-rng feature must not make releases.
    push(
        "noise source",
        cert.noise
            .check_release_grade()
            .map(|()| format!("{}, {}", cert.noise.library, cert.noise.rng))
            .map_err(|e| e.to_string()),
    );

    // Each ledger step's rho follows from its stated scale and sensitivity.
    let mut step_errors = Vec::new();
    for (i, e) in cert.ledger.iter().enumerate() {
        let recomputed = match e.mechanism.as_str() {
            "gaussian" if e.sensitivity.fract() == 0.0 && e.sensitivity >= 0.0 => {
                gaussian_rho(e.scale, e.sensitivity as u32).map_err(|x| x.to_string())
            }
            "noisy_max" => {
                noisy_max_rho(e.scale, e.sensitivity, e.monotone).map_err(|x| x.to_string())
            }
            other => Err(format!("unknown mechanism {other:?}")),
        };
        match recomputed {
            Ok(r) if close(r, e.rho) => {}
            Ok(r) => step_errors.push(format!(
                "step {} ({}): states rho {:e}, but scale {} and sensitivity {} give {:e}",
                i + 1,
                e.purpose,
                e.rho,
                e.scale,
                e.sensitivity,
                r
            )),
            Err(x) => step_errors.push(format!("step {} ({}): {x}", i + 1, e.purpose)),
        }
    }
    push(
        "ledger steps",
        if step_errors.is_empty() {
            Ok(format!(
                "{} steps, each rho re-derived from its scale and sensitivity",
                cert.ledger.len()
            ))
        } else {
            Err(step_errors.join("; "))
        },
    );

    // The ledger's exact sum (proofs/accountant.md, step 3): the stated total may round it
    // up, never down, and the exact sum must be within the budget, with no tolerance.
    let exact = RhoSum::of(cert.ledger.iter().map(|e| e.rho));
    let stated = cert.guarantee.rho;
    push(
        "total rho",
        match &exact {
            Ok(sum) if sum.within(stated) && close(sum.upper(), stated) => Ok(format!(
                "ledger sums to rho = {stated:.6e} (the exact sum, rounded up)"
            )),
            Ok(sum) if !sum.within(stated) => Err(format!(
                "the ledger's exact sum {:e} is above the stated total {stated:e}",
                sum.upper()
            )),
            Ok(sum) => Err(format!(
                "ledger sums to {:e}, certificate states {stated:e}",
                sum.upper()
            )),
            Err(e) => Err(format!("the ledger's rho values do not add up: {e}")),
        },
    );
    push(
        "within budget",
        match &exact {
            Ok(sum) if sum.within(cert.guarantee.budget_rho) => Ok(format!(
                "rho {stated:.6e} <= budget {:.6e} (exact sum of the ledger)",
                cert.guarantee.budget_rho
            )),
            Ok(sum) => Err(format!(
                "the ledger's exact sum {:e} exceeds the budget {:e}",
                sum.upper(),
                cert.guarantee.budget_rho
            )),
            Err(e) => Err(e.to_string()),
        },
    );
    let total = stated;
    let eps_check = Rho::new(total)
        .and_then(|r| Ok((r, Delta::new(cert.guarantee.delta)?)))
        .and_then(|(r, d)| epsilon_for(r, d))
        .map_err(|e| e.to_string())
        .and_then(|eps| {
            if close(eps.value(), cert.guarantee.epsilon) {
                Ok(format!(
                    "rho {total:.6e} gives epsilon {:.6} at delta {:e}",
                    eps.value(),
                    cert.guarantee.delta
                ))
            } else {
                Err(format!(
                    "rho {total:e} gives epsilon {} at delta {:e}, certificate states {}",
                    eps.value(),
                    cert.guarantee.delta,
                    cert.guarantee.epsilon
                ))
            }
        });
    push("epsilon from rho", eps_check);

    push("privacy unit", check_privacy_unit(&cert));
    push(
        "mechanism rules",
        Rules::of(&cert).and_then(|r| r.check_ledger(&cert)),
    );
    if cert.guarantee.lifetime.is_some() {
        push("lifetime ledger", check_lifetime(&cert));
    }
    if cert.format_version >= 2 {
        push("release context", check_governance(&cert, dir));
    }

    let expected = super::statement(
        cert.guarantee.epsilon,
        cert.guarantee.delta,
        cert.guarantee.rho,
        &cert.guarantee.privacy_unit,
    );
    push(
        "statement",
        if expected == cert.guarantee.statement {
            Ok("plain-words statement matches the figures".into())
        } else {
            Err("the plain-words statement does not match the stated epsilon, delta and rho".into())
        },
    );

    push(
        "schema hash",
        if sha256_bytes(cert.schema.text.as_bytes()) == cert.schema.sha256 {
            Ok("embedded schema matches its hash".into())
        } else {
            Err("the embedded schema text does not match its SHA-256".into())
        },
    );

    for out in &cert.outputs {
        let p = dir.join(&out.file);
        let name = format!("file {}", out.file);
        if out.file.contains('/') || out.file.contains('\\') || out.file.starts_with('.') {
            push(
                &name,
                Err("file names must be plain names inside the release".into()),
            );
            continue;
        }
        let r = sha256_file(&p)
            .map_err(|e| e.to_string())
            .and_then(|(h, n)| {
                if h != out.sha256 {
                    return Err(format!(
                        "SHA-256 {h} differs from the certificate's {}",
                        out.sha256
                    ));
                }
                if n != out.bytes {
                    return Err(format!("{n} bytes, certificate states {}", out.bytes));
                }
                if let Some(rows) = out.rows {
                    let got = data_rows(&p).map_err(|e| e.to_string())?;
                    if got != rows {
                        return Err(format!("{got} rows, certificate states {rows}"));
                    }
                    return Ok(format!("SHA-256 and {rows} rows match"));
                }
                Ok("SHA-256 matches".into())
            });
        push(&name, r);
    }
    push(
        "outputs listed",
        if cert.outputs.iter().any(|o| o.rows.is_some()) {
            Ok(format!("{} files", cert.outputs.len()))
        } else {
            Err("the certificate lists no data file".into())
        },
    );

    push("signature", check_signature(&cert, public_key));
    push(
        "attestation",
        super::attest::check_attestation(dir, &cert, public_key),
    );

    let ok = checks.iter().all(|c| c.ok);
    VerifyReport {
        ok,
        checks,
        certificate: Some(cert),
    }
}

/// The format and version: every version in `CERTIFICATE_VERSIONS_READ`. A version 1
/// certificate predates privacy units and lifetime ledgers: it must be record-level and
/// carry no lifetime (its canonical bytes omit the unit, so the signature would not cover a
/// unit added to it).
fn check_format_version(cert: &Certificate) -> Result<String, String> {
    if cert.format != CERTIFICATE_FORMAT
        || !CERTIFICATE_VERSIONS_READ.contains(&cert.format_version)
    {
        return Err(format!(
            "{} v{} is not {CERTIFICATE_FORMAT} v1 to v{CERTIFICATE_VERSION}",
            cert.format, cert.format_version
        ));
    }
    if cert.format_version == 1 {
        if cert.guarantee.privacy_unit != PrivacyUnit::Record {
            return Err(format!(
                "a {CERTIFICATE_FORMAT} v1 is record-level; it cannot declare the unit {}",
                cert.guarantee.privacy_unit
            ));
        }
        if cert.guarantee.lifetime.is_some() {
            return Err(format!(
                "a {CERTIFICATE_FORMAT} v1 cannot carry a lifetime ledger (added in v2)"
            ));
        }
        if cert.release.is_some()
            || cert.deployment.is_some()
            || cert.implementation.is_some()
            || cert.utility.is_some()
        {
            return Err(format!(
                "a {CERTIFICATE_FORMAT} v1 cannot carry release, deployment, implementation or utility blocks (added in v2)"
            ));
        }
        return Ok(format!(
            "{} v1 (record-level; read by this v{CERTIFICATE_VERSION} tool)",
            cert.format
        ));
    }
    Ok(format!("{} v{}", cert.format, cert.format_version))
}

/// The privacy unit check: every ledger step's sensitivity is the one the declared unit
/// implies for the certificate's mechanism ([`Rules::sensitivity`]: `K` for a Gaussian
/// marginal and for MST's selection, AIM's selection sensitivity for AIM's), exactly, and
/// its rho, re-derived with that sensitivity, is the rho the step states. Also the
/// neighbouring relation in words must be the unit's.
/// Proof of the sensitivities: proofs/privacy-unit.md, section 2.
pub fn check_privacy_unit(cert: &Certificate) -> Result<String, String> {
    let unit = &cert.guarantee.privacy_unit;
    let mut problems = Vec::new();
    if cert.guarantee.neighbouring != unit.neighbouring() {
        problems.push(format!(
            "the neighbouring relation {:?} is not the one of the declared unit ({unit})",
            cert.guarantee.neighbouring
        ));
    }
    let rules = Rules::of(cert)?;
    let mut step_problems = Vec::new();
    for (i, e) in cert.ledger.iter().enumerate() {
        let checked = rules.sensitivity(e).and_then(|s| {
            if s != e.sensitivity {
                return Err(format!(
                    "sensitivity {} where the unit ({unit}) and the mechanism imply {s}",
                    e.sensitivity
                ));
            }
            let rho = match e.mechanism.as_str() {
                "gaussian" => gaussian_rho(e.scale, s as u32),
                _ => noisy_max_rho(e.scale, s, e.monotone),
            }
            .map_err(|x| x.to_string())?;
            if close(rho, e.rho) {
                Ok(())
            } else {
                Err(format!(
                    "states rho {:e}; with the unit's sensitivity {s} its scale gives {rho:e}",
                    e.rho
                ))
            }
        });
        if let Err(x) = checked {
            step_problems.push(format!("step {} ({}): {x}", i + 1, e.purpose));
        }
    }
    // The first few steps say what is wrong; the count says how far it goes.
    const SHOWN: usize = 3;
    let more = step_problems.len().saturating_sub(SHOWN);
    step_problems.truncate(SHOWN);
    problems.extend(step_problems);
    if more > 0 {
        problems.push(format!("and {more} more step(s) of {}", cert.ledger.len()));
    }
    if problems.is_empty() {
        Ok(match unit {
            PrivacyUnit::Record => format!(
                "one record; each of the {} steps' sensitivity is the per-record one",
                cert.ledger.len()
            ),
            PrivacyUnit::Column { column, max_rows } => format!(
                "one {column} value with up to {max_rows} records; each of the {} steps' sensitivity is {max_rows} times the per-record one, and its rho follows",
                cert.ledger.len()
            ),
        })
    } else {
        Err(problems.join("; "))
    }
}

/// The lifetime ledger's figures: the cumulative rho includes this release, stays within
/// the ledger's budget, and gives the stated epsilon. (The ledger file itself stays with the
/// data holder; only these figures can be checked from the release.)
fn check_lifetime(cert: &Certificate) -> Result<String, String> {
    let Some(l) = &cert.guarantee.lifetime else {
        return Ok("no lifetime ledger".into());
    };
    if l.cumulative_rho < cert.guarantee.rho * (1.0 - REL_TOL) {
        return Err(format!(
            "cumulative rho {:e} is less than this release's rho {:e}",
            l.cumulative_rho, cert.guarantee.rho
        ));
    }
    if l.cumulative_rho > l.budget_rho * (1.0 + 1e-12) {
        return Err(format!(
            "cumulative rho {:e} exceeds the ledger's budget {:e}",
            l.cumulative_rho, l.budget_rho
        ));
    }
    let eps = Rho::new(l.cumulative_rho)
        .and_then(|r| epsilon_for(r, Delta::new(l.delta)?))
        .map_err(|e| e.to_string())?
        .value();
    if !close(eps, l.cumulative_epsilon) {
        return Err(format!(
            "cumulative rho {:e} gives epsilon {eps} at delta {:e}, certificate states {}",
            l.cumulative_rho, l.delta, l.cumulative_epsilon
        ));
    }
    let mut prior_note = String::new();
    if let Some(prior) = &l.prior_releases {
        // The cumulative figure is this release's rho plus every earlier release's, exactly
        // summed and rounded up (proofs/accountant.md, step 3).
        let sum = RhoSum::of(prior.iter().map(|p| p.rho).chain([cert.guarantee.rho]))
            .map_err(|e| format!("the prior releases' rho values do not add up: {e}"))?;
        if !sum.within(l.cumulative_rho) || !close(sum.upper(), l.cumulative_rho) {
            return Err(format!(
                "the {} prior release(s) and this one sum to rho {:e}, but the certificate states a cumulative rho of {:e}",
                prior.len(),
                sum.upper(),
                l.cumulative_rho
            ));
        }
        let numbers_ok = prior
            .iter()
            .enumerate()
            .all(|(i, p)| p.number < l.release && (i == 0 || prior[i - 1].number < p.number));
        if !numbers_ok {
            return Err(format!(
                "the prior releases' numbers must increase and precede this release's ({})",
                l.release
            ));
        }
        prior_note = format!(
            "; {} prior release(s) plus this one add up to it",
            prior.len()
        );
    }
    Ok(format!(
        "release {} of ledger {}: cumulative rho {:.6e} of {:.6e} (epsilon {:.4} at delta {:e}){prior_note}",
        l.release, l.ledger_id, l.cumulative_rho, l.budget_rho, eps, l.delta
    ))
}

/// The governance blocks of a version 2 certificate (issue #19): a well-formed release id,
/// a dataset label that is not a digest, the deployment's unprotected quantities as this
/// tool states them for the unit, and utility figures equal to the summary of the listed
/// accuracy.json. Early version 2 certificates (before #19) lack the blocks and pass with
/// a note.
fn check_governance(cert: &Certificate, dir: &Path) -> Result<String, String> {
    use super::governance::{unprotected, Utility};
    let Some(r) = &cert.release else {
        if cert.deployment.is_some() || cert.implementation.is_some() {
            return Err("deployment or implementation blocks without a release block".into());
        }
        return Ok("none (a version 2 certificate from before release contexts)".into());
    };
    if r.id.len() != 32 || !r.id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "release id {:?} is not 32 hexadecimal digits",
            r.id
        ));
    }
    if let Some(l) = &r.dataset_label {
        if super::governance::looks_like_digest(l) {
            return Err(format!("the dataset label {l:?} looks like a hash"));
        }
    }
    let d = cert
        .deployment
        .as_ref()
        .ok_or("a release block without a deployment block")?;
    if d.model != "central" {
        return Err(format!("deployment model {:?} is not \"central\"", d.model));
    }
    let expected = unprotected(
        &cert.guarantee.privacy_unit,
        cert.guarantee.lifetime.is_some(),
    );
    if d.unprotected != expected {
        return Err("the unprotected quantities are not the ones this release discloses".into());
    }
    if cert.implementation.is_none() {
        return Err("a release block without an implementation block".into());
    }
    if !cert.outputs.iter().any(|o| o.file == super::DATACARD_FILE) {
        return Err(format!(
            "the certificate does not list {}",
            super::DATACARD_FILE
        ));
    }
    let acc_file = cert.outputs.iter().find(|o| o.file == super::ACCURACY_FILE);
    match (&cert.utility, acc_file) {
        (None, None) => {}
        (Some(u), Some(f)) => {
            let p = dir.join(&f.file);
            let acc: crate::model::accuracy::AccuracyReport = std::fs::read_to_string(&p)
                .map_err(|e| format!("{}: {e}", p.display()))
                .and_then(|t| {
                    serde_json::from_str(&t).map_err(|e| format!("{}: {e}", p.display()))
                })?;
            if &Utility::of(&acc) != u {
                return Err(format!(
                    "the utility figures differ from the summary of {}",
                    f.file
                ));
            }
        }
        (Some(_), None) => {
            return Err("utility figures without an accuracy.json to derive them from".into())
        }
        (None, Some(_)) => return Err("accuracy.json is listed but no utility figures".into()),
    }
    Ok(format!(
        "release {} started {}{}; counting {:?}; {} unprotected quantities stated",
        r.id,
        r.started,
        r.curator
            .as_deref()
            .map(|c| format!(" by {c}"))
            .unwrap_or_default(),
        d.counting,
        d.unprotected.len()
    ))
}

impl VerifyReport {
    /// A human summary: the guarantee in plain words, mechanism, budget per phase, checks.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if let Some(c) = &self.certificate {
            s += &format!("Guarantee: {}\n", c.guarantee.statement);
            s += &format!(
                "Mechanism: {} (dpsynth {})\n",
                c.mechanism.name, c.tool.version
            );
            s += &format!("Privacy unit: {}\n", c.guarantee.privacy_unit);
            s += &format!("Neighbouring datasets: {}\n", c.guarantee.neighbouring);
            if let Some(l) = &c.guarantee.lifetime {
                s += &format!(
                    "Lifetime ledger {}: release {}, rho {:.6e} of {:.6e} spent by all its releases so far\n",
                    l.ledger_id, l.release, l.cumulative_rho, l.budget_rho
                );
            }
            s += "\n";
            s += "Budget by phase:\n";
            s += &format!("  {:<44} {:>6} {:>14}\n", "phase", "steps", "rho");
            for (phase, n, rho) in phases(c) {
                s += &format!("  {:<44} {:>6} {:>14.6e}\n", phase, n, rho);
            }
            s += &format!(
                "  {:<44} {:>6} {:>14.6e}\n\n",
                "total",
                c.ledger.len(),
                c.guarantee.rho
            );
        }
        s += "Checks:\n";
        for c in &self.checks {
            s += &format!(
                "  [{}] {}: {}\n",
                if c.ok { " ok " } else { "FAIL" },
                c.name,
                c.detail
            );
        }
        s += if self.ok {
            "\nVERIFIED: the files are the ones the certificate lists, and the figures of the\n\
             stated guarantee follow from its ledger. This cannot show that the tool ran as\n\
             described, that the schema was public knowledge, or that the input was the data it\n\
             is said to be.\n"
        } else {
            "\nNOT VERIFIED: do not rely on the stated guarantee or on these files.\n"
        };
        s
    }
}

/// Groups ledger steps into phases by purpose (round numbers and counts stripped).
pub fn phases(c: &Certificate) -> Vec<(String, usize, f64)> {
    let mut out: Vec<(String, usize, f64)> = Vec::new();
    for e in &c.ledger {
        let key = format!(
            "{} ({})",
            e.purpose
                .split(|ch: char| ch.is_ascii_digit())
                .next()
                .unwrap_or("")
                .trim(),
            e.mechanism
        );
        match out.iter_mut().find(|(k, _, _)| *k == key) {
            Some(p) => {
                p.1 += 1;
                p.2 += e.rho;
            }
            None => out.push((key, 1, e.rho)),
        }
    }
    out
}
