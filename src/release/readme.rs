//! The plain-language README written beside a release, for the partner who receives it.
//!
//! Every sentence here was reviewed against what the guarantee does and does not say (issue
//! #20): records are drawn from a model, not copied, but may coincide with real records by
//! chance; the guarantee bounds what anyone can learn about any one unit (a record, or the
//! declared unit with all of its records) either way. A record-level release never says
//! "person". `tests/release_texts.rs` pins the texts: change them only with a review.

use super::verify::phases;
use super::Certificate;
use crate::model::accuracy::AccuracyReport;
use crate::privacy::PrivacyUnit;

pub const RELEASE_README: &str = "README.txt";

/// Singular noun phrase for one protected unit: "record", "patient_id value".
fn unit_noun(unit: &PrivacyUnit) -> String {
    match unit {
        PrivacyUnit::Record => "record".into(),
        PrivacyUnit::Column { column, .. } => format!("{column} value"),
    }
}

pub fn release_readme(cert: &Certificate) -> String {
    let g = &cert.guarantee;
    let unit = &g.privacy_unit;
    let noun = unit_noun(unit);
    let data = cert.outputs.iter().find(|o| o.rows.is_some());
    let mut s = String::new();
    s += "SYNTHETIC DATA RELEASE (made with dpsynth)\n==========================================\n\n";
    s += "WHAT THIS IS\n";
    if let Some(d) = data {
        s += &format!(
            "{} holds {} synthetic records.\n\
             Each was drawn at random from a statistical model fitted with differential privacy;\n\
             none was copied from the original data. Some synthetic records may still coincide\n\
             with real records by chance, especially in tables with few columns or few distinct\n\
             values, where many real records share the same values. Such a match is not a copy,\n\
             and the guarantee below bounds what anyone can learn about any one {noun} either\n\
             way.\n",
            d.file,
            d.rows.unwrap_or(0)
        );
    }
    if let PrivacyUnit::Column { column, max_rows } = unit {
        s += &format!(
            "The records stand alone: their ids are fresh, and they are not grouped by {column},\n\
             so links between the records of one {column} value (repeated visits, say) are not\n\
             represented. At most {max_rows} {} of each {column} value, chosen at random, {} used\n\
             to fit the model; the number of synthetic records is a noisy estimate of how many\n\
             records were kept.\n",
            if *max_rows == 1 { "record" } else { "records" },
            if *max_rows == 1 { "was" } else { "were" },
        );
    }
    s += "model.json is that model (noisy summary statistics and the fitted distribution); it\ncan generate more synthetic records without the original data.\n";
    s += "certificate.json states the privacy guarantee and how it was spent, with fingerprints\n(SHA-256) of every file.\n\n";
    s += "THE GUARANTEE\n";
    s += &format!("{}\n\n", g.statement);
    s += &format!(
        "In short: whether or not any one {noun} was in the original data, the\n\
         probability of any outcome of this release changes by at most a factor of {:.3},\n\
         plus at most {:e}. This is differential privacy with epsilon = {:.4} and\n\
         delta = {:e}, for neighbouring data sets that differ as follows:\n{}.\n\n",
        g.epsilon.exp(),
        g.delta,
        g.epsilon,
        g.delta,
        g.neighbouring
    );
    if unit.is_record() {
        s += "The protected unit is one record. Where several records belong to the same\n\
              individual, that individual's protection is weaker than stated: for k records the\n\
              guarantee holds only with rho multiplied by k squared (group privacy), roughly k\n\
              times the epsilon. A release that declares a privacy unit (an id column, such as a\n\
              patient number) protects each unit with all of its records.\n\n";
    }
    if let Some(l) = &g.lifetime {
        s += "LIFETIME BUDGET\n";
        s += &format!(
            "This is release {} charged to the lifetime privacy ledger\n{}. All releases\n\
             charged to it so far, this one included, spend rho {:.6e} of its lifetime budget\n\
             of rho {:.6e}: together they are ({:.4}, {:e})-differentially private for the\n\
             same unit.\n\n",
            l.release, l.ledger_id, l.cumulative_rho, l.budget_rho, l.cumulative_epsilon, l.delta
        );
    }
    s += &format!(
        "Mechanism: {}. Privacy budget by phase (rho, zero-concentrated DP):\n",
        cert.mechanism.name
    );
    for (phase, n, rho) in phases(cert) {
        s += &format!("  {phase:<44} {n:>4} steps  rho {rho:.6e}\n");
    }
    s += &format!(
        "  {:<44} {:>4} steps  rho {:.6e}\n\n",
        "total",
        cert.ledger.len(),
        g.rho
    );
    s += "WHAT IT PROTECTS\n";
    s += &match unit {
        PrivacyUnit::Record => {
            "- Any one record: whether it was in the original data, and its values.".to_string()
        }
        PrivacyUnit::Column { column, .. } => format!(
            "- Any one {column} value with all of its records: whether it was in the original\n  \
             data, and the values of its records."
        ),
    };
    s += "\n  Whatever else an analyst knows, the release changes what they can infer about it by\n  \
          at most the factor above (plus delta).\n";
    s += "- This holds for any analysis of the release, now or later (post-processing).\n\n";
    s += "WHAT IT DOES NOT PROTECT\n";
    s += "- Facts about groups are meant to be kept: if most records in the data share a trait,\n  the synthetic data will show it, and conclusions about groups, including groups a\n  given individual belongs to, remain possible.\n";
    s += "- The column names, value lists and ranges come from the schema embedded in the\n  certificate, which the data holder declared public. The certificate attests the\n  computation as run by this tool; it does not attest that the schema was truly public\n  or that the input file was the data it claims to be.\n";
    s += "- Statistical accuracy is not guaranteed for rare groups or relationships among many\n  columns; check fitness for your purpose before relying on it.\n\n";
    s += "HOW TO VERIFY\n";
    s += "  dpsynth verify <this directory>                      # checks files, ledger, guarantee\n";
    s += "  dpsynth verify <this directory> --public-key KEY.pub # also requires the holder's signature\n";
    if let Some(sig) = &cert.signature {
        s += &format!("This release is signed; the signing key's fingerprint is\n  {}\nCompare it with the fingerprint the data holder gave you.\n", sig.fingerprint);
    } else {
        s += "This release is not signed.\n";
    }
    s
}

/// The fitness warnings, as the opening of README.txt (empty when there are none). They are
/// computed from DP outputs only (proofs/accuracy.md), so they may be published.
pub fn accuracy_warnings_text(acc: &AccuracyReport) -> String {
    if acc.warnings.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "!!! WARNING: THIS RELEASE IS LIKELY UNFIT FOR USE !!!\n\
         =====================================================\n",
    );
    for w in &acc.warnings {
        s += &format!("- {}\n", wrap(&w.message, 76, "  "));
    }
    s += "(These warnings come from the error bars in accuracy.json, which use the release's\nown noisy statistics only.)\n\n";
    s
}

/// The error bars in words, for the partner: what accuracy.json holds and its headline figures.
pub fn accuracy_text(acc: &AccuracyReport) -> String {
    let pct = 100.0 * acc.confidence;
    let mut s = String::from("\nHOW ACCURATE IT IS (accuracy.json)\n");
    s += &format!(
        "Privacy noise makes every figure computed from these records approximate. accuracy.json\n\
         gives, for each table of counts the model was fitted to, a {pct:.0}% bound on the error of\n\
         the model's version of it, and for every single column, every pair of columns and every\n\
         combination the model was asked to preserve, an estimated error. An error is the L1\n\
         distance between the real and the synthetic table of shares (0 = identical, 2 = nothing\n\
         in common): an error of 0.10 means about 5% of the records would have to move to another\n\
         cell of the table to match the real data.\n"
    );
    let t = &acc.total;
    s += &format!(
        "  Number of records in the original data: about {:.0} ({pct:.0}% interval {:.0} to {:.0}).\n",
        t.estimate, t.interval[0], t.interval[1]
    );
    for sum in &acc.summary {
        let what = match sum.k {
            1 => "single columns".to_string(),
            2 => "pairs of columns".to_string(),
            k => format!("{k}-column combinations"),
        };
        s += &format!(
            "  {what}: estimated error {:.3} on average over {}, worst {:.3} ({}).\n",
            sum.mean_estimate,
            sum.cliques,
            sum.max_estimate,
            sum.worst.join(" x ")
        );
        if let Some(r) = sum.estimate_mc_relative_sd {
            s += &format!(
                "    (One table's estimate is itself uncertain by about {:.0}%: a simulation with\n    another seed would move it that much; the average is steadier.)\n",
                100.0 * r
            );
        }
    }
    if !acc.measured.is_empty() {
        let mut b: Vec<f64> = acc.measured.iter().map(|m| m.share_bound).collect();
        b.sort_by(f64::total_cmp);
        s += &format!(
            "  {} measured tables: {pct:.0}% bounds from {:.3} to {:.3} (median {:.3}).\n",
            b.len(),
            b[0],
            b[b.len() - 1],
            b[b.len() / 2]
        );
    }
    s += "The estimates assume the data follow the model; relationships the model does not\n\
          contain can be worse (the bounds hold regardless, but are wide). To see any table with\n\
          its error bars: dpsynth query --model model.json --marginal COLUMN,COLUMN\n";
    s
}

/// Wraps `text` at `width` columns, continuing lines with `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = 0usize;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out += "\n";
            out += indent;
            line = indent.len();
        } else if line > 0 {
            out += " ";
            line += 1;
        }
        out += word;
        line += word.len();
    }
    out
}
