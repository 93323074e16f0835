//! `DATACARD.md`: the release described for those who decide whether to use it (issue
//! #19 item 4). What the data are and are not fit for (from the accuracy report, which is
//! computed from DP outputs alone, and from the public schema), the guarantee in plain words
//! for a non-specialist, how to verify the release, and who released it and why.
//!
//! Written before the certificate is final, so the certificate lists and hashes it; it holds
//! nothing computed from the private input: the synthetic row count and the error figures are
//! DP outputs, everything else is public (schema, budget, context). tests/governed.rs checks
//! this against the demo data. Proof: proofs/release-metadata.md.

use crate::model::accuracy::AccuracyReport;
use crate::privacy::PrivacyUnit;
use crate::schema::{ColumnKind, Schema};

use super::Certificate;

pub const DATACARD_FILE: &str = "DATACARD.md";

/// Mean estimated error (L1 distance between normalised tables, 0 to 2) below which
/// marginals of a size count as fit for use: 0.1 means at most 5% of the records would have
/// to move to another cell. The same bar as the fitness verdict's "good" (src/eval).
const FIT_MEAN: f64 = 0.1;
/// A single marginal with an estimated error above this is named as not fit.
const UNFIT_ONE: f64 = 0.3;

fn unit_words(unit: &PrivacyUnit) -> (String, String) {
    match unit {
        PrivacyUnit::Record => ("record".into(), "any one record".into()),
        PrivacyUnit::Column { column, max_rows } => (
            format!("{column} value"),
            format!("any one {column} (every record of it; at most {max_rows} were used)"),
        ),
    }
}

fn describe_column(c: &crate::schema::Column) -> String {
    let kind = c.kind();
    let how = match kind {
        ColumnKind::Categorical(_) => "categories as listed in the schema".to_string(),
        ColumnKind::Integer(_) | ColumnKind::Float(_) => {
            "numbers drawn within the schema's bins: totals and shares by bin carry the model's accuracy; detail finer than a bin is synthetic".to_string()
        }
        ColumnKind::Date(_) | ColumnKind::DateTime(_) => {
            "dates drawn within the schema's calendar bins; detail finer than a bin is synthetic".to_string()
        }
        ColumnKind::Id { .. } => "fresh sequential identifiers: they link to nothing".to_string(),
        ColumnKind::Skip => "not released".to_string(),
    };
    format!("| `{}` | {} | {} |", c.name(), kind.name(), how)
}

/// The data card of a release. `schema` is the release's public schema, `acc` its accuracy
/// report (absent for models without one), `fingerprint` the signing key's (if signed).
pub fn datacard(
    cert: &Certificate,
    schema: &Schema,
    acc: Option<&AccuracyReport>,
    fingerprint: Option<&str>,
) -> String {
    let g = &cert.guarantee;
    let (noun, who) = unit_words(&g.privacy_unit);
    let ctx = cert.release.as_ref();
    let label = ctx
        .and_then(|r| r.dataset_label.as_deref())
        .unwrap_or("synthetic data");
    let data = cert.outputs.iter().find(|o| o.rows.is_some());
    let mut s = format!("# Data card: {label}\n\n");
    if let Some(r) = ctx {
        s += &format!(
            "Release `{}`, made with dpsynth {} ({}), run started {}.\n\n",
            r.id,
            cert.tool.version,
            cert.mechanism.name.to_uppercase(),
            r.started
        );
    }

    s += "## What this is\n\n";
    if let Some(d) = data {
        s += &format!(
            "`{}` holds {} synthetic records with the columns below. They were drawn at random from a statistical model that was fitted to the original data with differential privacy; none is a copy of an original record. The number of records is {}.\n\n",
            d.file,
            d.rows.unwrap_or(0),
            if cert.sampling.rows_source == "user" {
                "the curator's choice"
            } else {
                "the model's noisy estimate of the original number (the true number is not released)"
            }
        );
    }
    s += "| column | kind | what its values are |\n|---|---|---|\n";
    for c in schema.columns() {
        if !matches!(c.kind(), ColumnKind::Skip) {
            s += &describe_column(c);
            s += "\n";
        }
    }
    s += "\n";

    s += "## Who released it and why\n\n";
    let field = |v: Option<&str>, flag: &str| {
        v.map(String::from)
            .unwrap_or_else(|| format!("not stated (`{flag}`)"))
    };
    s += &format!(
        "- Curator: {}\n- Purpose: {}\n- Data set: {}\n\n",
        field(ctx.and_then(|r| r.curator.as_deref()), "--curator"),
        field(ctx.and_then(|r| r.purpose.as_deref()), "--purpose"),
        field(
            ctx.and_then(|r| r.dataset_label.as_deref()),
            "--dataset-label"
        ),
    );

    s += "## Fit for, and not fit for\n\n";
    s += "The figures below are estimates computed from the differentially private model alone (`accuracy.json`); nobody compared these records with the original data to make them. An error of 0.1 means that about 5% of the records would have to move to another cell of that table to match the original.\n\n";
    let mut fit = Vec::new();
    let mut unfit = vec![
        format!("Finding, linking or learning about any one {noun}: the records are synthetic, and the guarantee below limits what anyone can learn about any one {noun} from them."),
        "The exact number of records in the original data, or exact counts of anything: every figure carries noise.".to_string(),
    ];
    if let PrivacyUnit::Column { column, .. } = &g.privacy_unit {
        unfit.push(format!("Anything about several records of one {column} together (repeat visits, trajectories): records are drawn independently and their ids are fresh."));
    }
    match acc {
        Some(acc) => {
            let names = ["single columns", "pairs of columns", "triples of columns"];
            let mut max_k = 0;
            for sz in &acc.summary {
                max_k = max_k.max(sz.k);
                let what = names
                    .get(sz.k.saturating_sub(1))
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| format!("{}-column tables", sz.k));
                // A single table's estimate is a simulation with Monte-Carlo noise of its own.
                let spread = sz
                    .estimate_mc_relative_sd
                    .map(|r| {
                        format!(
                            "; one table's estimate is itself uncertain by about {:.0}%",
                            100.0 * r
                        )
                    })
                    .unwrap_or_default();
                let line = format!(
                    "Distributions of {what}: mean estimated error {:.3} over {} tables (worst {:.3}{spread}).",
                    sz.mean_estimate, sz.cliques, sz.max_estimate
                );
                if sz.mean_estimate <= FIT_MEAN {
                    fit.push(line);
                } else {
                    unfit.push(line);
                }
            }
            let bad: Vec<String> = acc
                .cliques
                .iter()
                .filter(|c| c.estimate.is_some_and(|e| e > UNFIT_ONE))
                .map(|c| {
                    format!(
                        "`{}` ({:.2})",
                        c.columns.join(" x "),
                        c.estimate.unwrap_or(0.0)
                    )
                })
                .collect();
            if !bad.is_empty() {
                let shown: Vec<String> = bad.iter().take(8).cloned().collect();
                unfit.push(format!(
                    "These tables in particular, with an estimated error above {UNFIT_ONE}: {}{}.",
                    shown.join(", "),
                    if bad.len() > shown.len() {
                        format!(" and {} more", bad.len() - shown.len())
                    } else {
                        String::new()
                    }
                ));
            }
            if let Some(sigma) = acc
                .measured
                .iter()
                .map(|m| m.sigma)
                .filter(|s| s.is_finite() && *s > 0.0)
                .reduce(f64::min)
            {
                unfit.push(format!(
                    "Small groups: the noise on a measured count has a standard deviation of at least {sigma:.0} records, so groups of fewer than about {:.0} records are mostly noise; rare categories and their combinations are unreliable.",
                    3.0 * sigma
                ));
            }
            if max_k > 0 {
                unfit.push(format!(
                    "Relations among more than {max_k} columns at once: their accuracy was not estimated."
                ));
            }
            for w in &acc.warnings {
                unfit.push(format!("Warning: {}", w.message));
            }
        }
        None => unfit.push(
            "Any use that needs known accuracy: no accuracy report was made for this model.".into(),
        ),
    }
    if fit.is_empty() {
        s += "**Fit for:** no table size reached the bar of a mean estimated error of 0.1; treat every figure as rough.\n\n";
    } else {
        s += "**Fit for:**\n\n";
        for f in &fit {
            s += &format!("- {f}\n");
        }
        s += "\n";
    }
    s += "**Not fit for:**\n\n";
    for u in &unfit {
        s += &format!("- {u}\n");
    }
    s += "\n";

    s += "## The privacy guarantee in plain words\n\n";
    s += &format!(
        "Whether or not {who} was in the original data, anything anyone computes from this release, with any other information they have, comes out almost equally likely: at most {:.2} times more or less likely, except with a probability of at most {:e}. In technical terms: ({:.4}, {:e})-differential privacy per {noun} (from {:.6}-zCDP).\n\n",
        g.epsilon.exp(),
        g.delta,
        g.epsilon,
        g.delta,
        g.rho
    );
    if g.privacy_unit.is_record() {
        s += "The protected unit is one record. An individual with several records in the original data is protected less: about k times the epsilon for k records.\n\n";
    }
    if let Some(l) = &g.lifetime {
        s += &format!(
            "This is release {} charged to a lifetime budget: together with the earlier releases from the same data, the privacy loss so far is epsilon {:.4} (rho {:.6} of a lifetime rho {:.6}).\n\n",
            l.release, l.cumulative_epsilon, l.cumulative_rho, l.budget_rho
        );
    }
    s += "What differential privacy does not protect: the public schema (column names, value lists, bounds, rules), the fact that the data were released, and the context above. It also does not stop anyone from learning facts about groups: that is what the data are for.\n\n";

    s += "## How to verify\n\n";
    s += "```sh\ndpsynth verify . --public-key CURATOR.pub\n```\n\n";
    s += &match fingerprint {
        Some(fp) => format!(
            "The release is signed by the key with fingerprint `{fp}`; get the public key from the curator through a channel you trust. `certificate.dsse.json` is a standard DSSE/in-toto attestation over every file, checkable without dpsynth (docs/attestation.md).\n\n"
        ),
        None => "The release is not signed: `dpsynth verify .` checks that the files match the certificate and that its figures follow from its ledger, but not who made it.\n\n".into(),
    };
    s += "`certificate.json` lists every privacy-loss step and the SHA-256 of every file, this card included. Verification shows that the files are the ones listed and that the stated guarantee follows from the listed steps; it cannot show that the tool ran as described or that the schema was truly public.\n";
    s
}
