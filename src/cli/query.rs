//! `dpsynth query`: any marginal table from a model file, with its error bars. Reads only
//! the model (DP outputs), never the private data.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use dpsynth::marginal::Clique;
use dpsynth::model::accuracy::ACCURACY_VERSION;
use dpsynth::release::ModelFile;

/// Answer a marginal (a table of counts over some columns) from a fitted model, with error
/// bars. Needs only the model file: no private data.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  dpsynth query --model release/model.json --marginal age,sex
  dpsynth query --model model.json --marginal diagnosis --json")]
pub struct QueryCmd {
    /// A model file written by `dpsynth fit` or `dpsynth synth`.
    #[arg(long)]
    pub model: PathBuf,
    /// Comma-separated column names.
    #[arg(long, value_delimiter = ',', required = true)]
    pub marginal: Vec<String>,
    /// Print the table and its error bars as JSON.
    #[arg(long)]
    pub json: bool,
    /// Show at most this many cells in the text output (all in --json).
    #[arg(long, default_value_t = 200)]
    pub max_rows: usize,
}

pub fn run(cmd: QueryCmd) -> Result<()> {
    let file = ModelFile::load(&cmd.model)?;
    let schema = file.schema()?;
    let fitted = &file.fitted;
    let domain = fitted.released_domain();
    let mut attrs = Vec::new();
    for name in &cmd.marginal {
        let name = name.trim();
        let Some(a) = domain.index_of(name) else {
            bail!(
                "--marginal: {name:?} is not a modelled column of the model {} (columns: {})",
                cmd.model.display(),
                domain.names().join(", ")
            );
        };
        if attrs.contains(&a) {
            bail!("--marginal: column {name:?} is given twice");
        }
        attrs.push(a);
    }
    let clique = Clique::new(attrs);
    let cells = clique.cells(&domain);
    if cells > dpsynth::model::MAX_QUERY_CELLS {
        bail!("the marginal would have {cells} cells; choose fewer or smaller columns");
    }
    let table = fitted
        .answer(&clique)
        .with_context(|| format!("answering {}", cmd.marginal.join(",")))?;
    let acc = fitted.accuracy_of(&clique)?;
    let supported = fitted.supported(&clique);
    let labels: Vec<Vec<String>> = schema.modelled().iter().map(|c| c.code_labels()).collect();
    let total: f64 = table.values.iter().sum();
    // Each noisy cell's own 95% interval (valid although the measurements were chosen
    // adaptively: `Supported::cell_interval`).
    let cell_alpha = 0.05;
    // Cell labels in row-major order (the clique's attributes are sorted).
    let shape = &table.shape;
    let cell_labels = |mut i: usize| -> Vec<String> {
        let mut out = vec![String::new(); shape.len()];
        for k in (0..shape.len()).rev() {
            let code = i % shape[k];
            i /= shape[k];
            let a = clique.attrs()[k];
            out[k] = labels
                .get(a)
                .and_then(|l| l.get(code))
                .cloned()
                .unwrap_or_else(|| code.to_string());
        }
        out
    };
    let columns: Vec<String> = clique
        .attrs()
        .iter()
        .map(|&a| domain.name(a).to_string())
        .collect();
    if cmd.json {
        let rows: Vec<serde_json::Value> = table
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let mut r = json!({
                    "values": cell_labels(i),
                    "count": v,
                    "share": if total > 0.0 { v / total } else { 0.0 },
                });
                if let Some(s) = &supported {
                    r["noisy_count"] = json!(s.values[i]);
                    r["noisy_interval"] = json!(s.cell_interval(i, cell_alpha));
                }
                r
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "source": "the model only (DP outputs): no private data was read",
                "model": cmd.model,
                "mechanism": fitted.mechanism,
                "columns": columns,
                "cells": cells,
                "total": total,
                "error": acc,
                "error_metric": "L1 distance between normalised tables (0 to 2)",
                "confidence": fitted.accuracy.as_ref().map(|a| a.confidence),
                "rows": rows,
            }))?
        )?;
        return Ok(());
    }
    outln!(
        "{} from {} ({}; the model only, no private data read): {} cells, about {:.0} records",
        columns.join(" x "),
        cmd.model.display(),
        fitted.mechanism,
        cells,
        total
    )?;
    match &acc {
        Some(a) => {
            let est = a
                .estimate
                .map_or("not available".to_string(), |e| format!("{e:.4}"));
            let bound = match (a.bound, a.bound_method) {
                (Some(b), Some(m)) => format!(
                    "{b:.4} ({m:?} bound{})",
                    if a.bound_sampled {
                        ", with a sampled answer of the final model"
                    } else {
                        ""
                    }
                )
                .to_lowercase(),
                _ => "none (no measurement or selection bounds this table)".to_string(),
            };
            outln!(
                "error (L1 distance between the real and the model's shares, 0 to 2): estimated {est}; 95% bound {bound}{}",
                if a.measured { "; measured directly" } else { "; not measured: the model infers it" }
            )?;
            match fitted.accuracy.as_ref().map(|r| r.format_version) {
                Some(v) if v < 2 => outln!("note: this model file's error bars predate session 12's bounds; the bound is recomputed from its measurements alone (its selection bounds were stored without their inputs), so some unmeasured tables have none")?,
                Some(v) if v < ACCURACY_VERSION => outln!("note: this model file's error bars predate bounds valid for adaptively chosen measurements; the bound is recomputed")?,
                _ => {}
            }
        }
        None => outln!("error bars: none (the model file predates accuracy.json)")?,
    }
    let width = columns.iter().map(String::len).max().unwrap_or(5).max(8);
    let head: Vec<String> = columns.iter().map(|c| format!("{c:<width$}")).collect();
    out!("{}  {:>12} {:>8}", head.join(" "), "count", "share")?;
    if supported.is_some() {
        out!("  {:>27}", "noisy count (95% interval)")?;
    }
    outln!()?;
    for (i, &v) in table.values.iter().enumerate().take(cmd.max_rows) {
        let l: Vec<String> = cell_labels(i)
            .iter()
            .map(|c| format!("{c:<width$}"))
            .collect();
        out!(
            "{}  {:>12.1} {:>8.4}",
            l.join(" "),
            v,
            if total > 0.0 { v / total } else { 0.0 }
        )?;
        if let Some(s) = &supported {
            let [lo, hi] = s.cell_interval(i, cell_alpha);
            out!("  {:>9.0} ({:>7.0} to {:>7.0})", s.values[i], lo, hi)?;
        }
        outln!()?;
    }
    if table.values.len() > cmd.max_rows {
        outln!(
            "... {} more cells (--max-rows, or --json for all)",
            table.values.len() - cmd.max_rows
        )?;
    }
    Ok(())
}
