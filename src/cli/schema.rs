//! `dpsynth schema check` and `dpsynth schema draft`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Subcommand;

use dpsynth::data::{
    check_table_grouped, read_table_with, EncodeReport, EncodedTable, ReadOptions, UnitProfile,
};
use dpsynth::schema::{draft_from_csv, ColumnKind, Schema};
use dpsynth::sql::is_postgres_url;

use super::problems::ProblemArgs;
use super::source::{connect_checked, SourceArgs};

#[derive(Subcommand, Debug)]
pub enum SchemaCmd {
    /// Validate a public schema; with --data, also report encoding problems in a CSV or Parquet file.
    #[command(after_help = "Examples:
  dpsynth schema check admissions.schema.toml --data admissions.csv
  dpsynth schema check admissions.schema.toml --data admissions.csv --privacy-unit patient_id
  dpsynth schema check admissions.schema.toml --data postgresql://me@localhost:5432/ehr --table admissions")]
    Check {
        /// Schema file (TOML; JSON and benchmark *-domain.json accepted).
        schema: PathBuf,
        /// CSV or Parquet file to check against the schema (its problems name line or row,
        /// column and value), or a postgresql:// URL with --table or --query (the check runs
        /// in the database, as `synth` validates it; problems are grouped with row counts).
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        source: SourceArgs,
        /// With --data: show (privately, for the operator) how many rows each value of this
        /// `id` column has, and what share of rows each bound K would drop, to choose
        /// --max-rows-per-unit. Default: the schema's privacy_unit.
        #[arg(long, value_name = "COLUMN", requires = "data")]
        privacy_unit: Option<String>,
        #[command(flatten)]
        problems: ProblemArgs,
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
            source,
            problems: shown,
        } => {
            // A draft is reported as a problem, like every other, but still checked against data.
            let (parsed, problems) = match Schema::from_path_for_release(&schema) {
                Ok(s) => (Some(s), Vec::new()),
                Err(e) if e.is_only_draft() => {
                    (Schema::from_path(&schema).ok(), vec![e.to_string()])
                }
                Err(e) => (None, vec![e.to_string()]),
            };
            // Data problems are grouped and counted (PRIVATE: for the operator only).
            let (mut data_lines, mut data_problems) = (Vec::new(), 0);
            // How many rules every record was checked against (None: not checked).
            let mut rules_checked: Option<usize> = None;
            // The table as read for the rule check (its units, when profiled, come with it).
            let mut read = None;
            let url = data
                .as_ref()
                .and_then(|d| d.to_str())
                .filter(|d| is_postgres_url(d));
            if let (Some(s), Some(url)) = (&parsed, url) {
                // The same validation query `synth` runs before it spends anything.
                let mut src = connect_checked(url, &source, s, &ReadOptions::default())?;
                let compiled = src.compile(s, None)?;
                let report = src.validate(&compiled, shown.show_values)?;
                (data_lines, data_problems) =
                    report.render(shown.show_values, shown.max_problems as usize);
            } else if let (Some(s), Some(d)) = (&parsed, &data) {
                let report = check_table_grouped(d, s, &ReadOptions::default());
                if report.is_empty() {
                    // One read checks the rules and, when the unit column is a valid `id`
                    // column, collects the rows per unit for the profile below.
                    let opts = ReadOptions {
                        check_rules: true,
                        unit_column: profiled_unit(s, privacy_unit.as_deref()).map(str::to_string),
                        ..ReadOptions::default()
                    };
                    match read_table_with(d, s, &opts) {
                        Ok((table, report)) => {
                            clamping_note(&report);
                            data_lines = rule_problems(d, &report);
                            data_problems = data_lines.len();
                            rules_checked = Some(report.rules.len());
                            read = Some(table);
                        }
                        Err(e) => {
                            data_lines = vec![e.to_string()];
                            data_problems = 1;
                        }
                    }
                } else {
                    (data_lines, data_problems) =
                        report.render(shown.show_values, shown.max_problems as usize);
                }
            }
            if problems.is_empty() && data_problems == 0 {
                let s = parsed
                    .as_ref()
                    .map(|s| s.modelled_names().len())
                    .unwrap_or(0);
                outln!(
                    "{}: ok ({s} modelled columns){}",
                    schema.display(),
                    match (data.is_some(), rules_checked) {
                        (true, Some(n)) if n > 0 =>
                            format!(", data encodes cleanly and every record obeys the {n} rule(s)"),
                        (true, _) => ", data encodes cleanly".to_string(),
                        (false, _) => String::new(),
                    }
                )?;
                if let (Some(s), Some(d)) = (&parsed, &data) {
                    let column = privacy_unit.as_deref().or(s.privacy_unit().map(|(c, _)| c));
                    match column {
                        Some(column) if url.is_some() => errln!(
                            "note: rows per {column} are profiled from files only; export the {column} column to profile it on a database source"
                        ),
                        Some(column) => unit_profile(s, d, column, read.as_ref())?,
                        None => {}
                    }
                }
                Ok(())
            } else {
                for p in problems.iter().chain(&data_lines) {
                    errln!("{p}");
                }
                bail!("{} problem(s) found", problems.len() + data_problems)
            }
        }
        SchemaCmd::Draft { data } => {
            errln!(
                "warning: this draft is derived from the private data in {} (value lists, bounds). \
Treat it as private: replace it with public knowledge and delete `draft = true` before a release run.",
                data.display()
            );
            out!(
                "{}",
                draft_from_csv(&data).map_err(|e| anyhow::anyhow!("{e}"))?
            )?;
            Ok(())
        }
    }
}

/// What encoding changed, per column: PRIVATE counts for the operator, naming the column so
/// the steward knows which bound or list to fix.
fn clamping_note(report: &EncodeReport) {
    let mut parts = Vec::new();
    for c in &report.columns {
        let mut what = Vec::new();
        if c.clamped_below > 0 {
            what.push(format!(
                "{} below the minimum clamped to it",
                c.clamped_below
            ));
        }
        if c.clamped_above > 0 {
            what.push(format!(
                "{} above the maximum clamped to it",
                c.clamped_above
            ));
        }
        if c.mapped_to_other > 0 {
            what.push(format!(
                "{} mapped to the catch-all category",
                c.mapped_to_other
            ));
        }
        if !what.is_empty() {
            parts.push(format!("column {:?}: {}", c.name, what.join(", ")));
        }
    }
    if !parts.is_empty() {
        errln!(
            "note (private, for the operator only): {}",
            parts.join("; ")
        );
    }
}

/// Rows breaking the schema's rules: PRIVATE counts for the operator. A public rule the data
/// breaks is either wrong or marks data errors; either way the model gives those rows' cells
/// no mass, so the steward must decide.
fn rule_problems(file: &std::path::Path, report: &EncodeReport) -> Vec<String> {
    report
        .rules
        .iter()
        .filter(|r| r.rows > 0 || r.undecided > 0)
        .map(|r| {
            let mut msg = format!(
                "{}: rule {} is broken by {} row(s)",
                file.display(),
                r.rule,
                r.rows
            );
            if let Some(at) = r.first {
                msg.push_str(&format!(", first at {at}"));
            }
            if r.undecided > 0 {
                msg.push_str(&format!(
                    "; {} row(s) could not be read back to decide it",
                    r.undecided
                ));
            }
            msg.push_str(" (private, for the operator only)");
            msg
        })
        .collect()
}

/// The column whose rows per unit `schema check` profiles (`--privacy-unit`, else the
/// schema's unit), when it is an `id` column; `unit_profile` reports any other choice.
fn profiled_unit<'a>(schema: &'a Schema, flag: Option<&'a str>) -> Option<&'a str> {
    let column = flag.or(schema.privacy_unit().map(|(c, _)| c))?;
    matches!(
        schema.column(column).map(|c| c.kind()),
        Some(ColumnKind::Id { .. })
    )
    .then_some(column)
}

/// Rows per unit and what each bound K would drop: PRIVATE figures for the operator choosing
/// `max_rows_per_unit`, never part of a release.
/// `table` is the data as read for the rule check, with `column` as its unit column (set
/// by [`profiled_unit`] whenever `column` is an `id` column), so the file is not read again.
fn unit_profile(
    schema: &Schema,
    data: &std::path::Path,
    column: &str,
    table: Option<&EncodedTable>,
) -> Result<()> {
    match schema.column(column).map(|c| c.kind()) {
        Some(ColumnKind::Id { .. }) => {}
        Some(k) => bail!(
            "--privacy-unit {column}: a {} column; the privacy unit must be an `id` column",
            k.name()
        ),
        None => bail!("--privacy-unit {column}: not a column of the schema"),
    }
    let Some(units) = table.and_then(EncodedTable::units) else {
        bail!("internal error: {column} was not read");
    };
    let p = UnitProfile::new(units);
    outln!(
        "\nPRIVATE (computed from {}; for the operator only, do not publish):",
        data.display()
    )?;
    outln!(
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
    )?;
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
    outln!("  K (max_rows_per_unit)  rows dropped  noise vs K = 1")?;
    for k in ks {
        outln!(
            "  {:>21}  {:>11.2}%  {:>13}{}",
            k,
            100.0 * p.dropped_share(k),
            format!("{k}x"),
            if Some(k) == declared {
                "  (the schema's)"
            } else {
                ""
            }
        )?;
    }
    outln!(
        "Larger K keeps more of each {column}'s rows but scales every noise standard deviation by K (and the selection noise too): \
at the same epsilon, K = 4 adds four times the noise of K = 1. Truncation keeps K rows per {column} chosen at random; the synthetic data then describe those rows."
    )?;
    Ok(())
}
