//! `dpsynth schema check` and `dpsynth schema draft`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Subcommand;

use dpsynth::data::{check_table_with, read_table, read_table_with, ReadOptions, UnitProfile};
use dpsynth::schema::{draft_from_csv, ColumnKind, Schema};

#[derive(Subcommand, Debug)]
pub enum SchemaCmd {
    /// Validate a public schema; with --data, also report encoding problems in a CSV or Parquet file.
    #[command(after_help = "Examples:
  dpsynth schema check admissions.schema.toml --data admissions.csv
  dpsynth schema check admissions.schema.toml --data admissions.csv --privacy-unit patient_id")]
    Check {
        /// Schema file (TOML; JSON and benchmark *-domain.json accepted).
        schema: PathBuf,
        /// CSV or Parquet file to check against the schema (its problems name line or row, column and value).
        #[arg(long)]
        data: Option<PathBuf>,
        /// With --data: show (privately, for the operator) how many rows each value of this
        /// `id` column has, and what share of rows each bound K would drop, to choose
        /// --max-rows-per-unit. Default: the schema's privacy_unit.
        #[arg(long, value_name = "COLUMN", requires = "data")]
        privacy_unit: Option<String>,
    },
    /// Print a DRAFT schema inferred from a CSV. The draft is derived from private data:
    /// replace every value in it with public knowledge and delete `draft = true` before a
    /// release run (which refuses drafts).
    #[command(
        after_help = "Example:\n  dpsynth schema draft --data admissions.csv > draft.schema.toml"
    )]
    Draft {
        #[arg(long)]
        data: PathBuf,
    },
}

pub fn run(cmd: SchemaCmd) -> Result<()> {
    match cmd {
        SchemaCmd::Check {
            schema,
            data,
            privacy_unit,
        } => {
            // A draft is reported as a problem, like every other, but still checked against data.
            let (parsed, mut problems) = match Schema::from_path_for_release(&schema) {
                Ok(s) => (Some(s), Vec::new()),
                Err(e) if e.is_only_draft() => {
                    (Schema::from_path(&schema).ok(), vec![e.to_string()])
                }
                Err(e) => (None, vec![e.to_string()]),
            };
            if let (Some(s), Some(d)) = (&parsed, &data) {
                let errs = check_table_with(d, s, &ReadOptions::default());
                problems.extend(errs.iter().map(|e| e.to_string()));
                if errs.is_empty() {
                    // Clamping counts are private: shown to the operator here, never in a release.
                    if let Ok((_, report)) = read_table(d, s) {
                        let clamped = report.total_clamped();
                        let other = report.total_other();
                        if clamped + other > 0 {
                            eprintln!(
                                "note (private, for the operator only): {clamped} numbers clamped to bounds, {other} values mapped to catch-all categories"
                            );
                        }
                    }
                }
            }
            if problems.is_empty() {
                let s = parsed
                    .as_ref()
                    .map(|s| s.modelled_names().len())
                    .unwrap_or(0);
                println!(
                    "{}: ok ({s} modelled columns){}",
                    schema.display(),
                    if data.is_some() {
                        ", data encodes cleanly"
                    } else {
                        ""
                    }
                );
                if let (Some(s), Some(d)) = (&parsed, &data) {
                    let column = privacy_unit.as_deref().or(s.privacy_unit().map(|(c, _)| c));
                    if let Some(column) = column {
                        unit_profile(s, d, column)?;
                    }
                }
                Ok(())
            } else {
                for p in &problems {
                    eprintln!("{p}");
                }
                bail!("{} problem(s) found", problems.len())
            }
        }
        SchemaCmd::Draft { data } => {
            eprintln!(
                "warning: this draft is derived from the private data in {} (value lists, bounds). \
Treat it as private: replace it with public knowledge and delete `draft = true` before a release run.",
                data.display()
            );
            print!(
                "{}",
                draft_from_csv(&data).map_err(|e| anyhow::anyhow!("{e}"))?
            );
            Ok(())
        }
    }
}

/// Rows per unit and what each bound K would drop: PRIVATE figures for the operator choosing
/// `max_rows_per_unit`, never part of a release.
fn unit_profile(schema: &Schema, data: &std::path::Path, column: &str) -> Result<()> {
    match schema.column(column).map(|c| c.kind()) {
        Some(ColumnKind::Id { .. }) => {}
        Some(k) => bail!(
            "--privacy-unit {column}: a {} column; the privacy unit must be an `id` column",
            k.name()
        ),
        None => bail!("--privacy-unit {column}: not a column of the schema"),
    }
    let opts = ReadOptions {
        unit_column: Some(column.to_string()),
        ..ReadOptions::default()
    };
    let (table, _) = read_table_with(data, schema, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(units) = table.units() else {
        bail!("internal error: {column} was not read");
    };
    let p = UnitProfile::new(units);
    println!(
        "\nPRIVATE (computed from {}; for the operator only, do not publish):",
        data.display()
    );
    println!(
        "rows per {column}: {} values, {} rows; min {}, median {}, 75% {}, 90% {}, 95% {}, 99% {}, max {}",
        p.units(),
        p.rows(),
        p.quantile(0.0),
        p.quantile(0.5),
        p.quantile(0.75),
        p.quantile(0.9),
        p.quantile(0.95),
        p.quantile(0.99),
        p.quantile(1.0)
    );
    let declared = schema
        .privacy_unit()
        .filter(|(c, _)| *c == column)
        .map(|(_, k)| k as u64);
    let max = p.quantile(1.0);
    let mut ks: Vec<u64> = [1u64, 2, 3, 4, 5, 10, 20, 50, 100, 200, 500, 1000]
        .into_iter()
        .filter(|&k| k <= max.max(1))
        .collect();
    if max > 1 && !ks.contains(&max) && max <= 1_000_000 {
        ks.push(max);
    }
    if let Some(k) = declared {
        if !ks.contains(&k) {
            ks.push(k);
            ks.sort_unstable();
        }
    }
    println!("  K (max_rows_per_unit)  rows dropped  noise vs K = 1");
    for k in ks {
        println!(
            "  {:>21}  {:>11.2}%  {:>13}{}",
            k,
            100.0 * p.dropped_share(k),
            format!("{k}x"),
            if Some(k) == declared {
                "  (the schema's)"
            } else {
                ""
            }
        );
    }
    println!(
        "Larger K keeps more of each {column}'s rows but scales every noise standard deviation by K (and the selection noise too): \
at the same epsilon, K = 4 adds four times the noise of K = 1. Truncation keeps K rows per {column} chosen at random; the synthetic data then describe those rows."
    );
    Ok(())
}
