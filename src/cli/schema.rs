//! `dpsynth schema check` and `dpsynth schema draft`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Subcommand;

use dpsynth::data::{check_csv, read_csv};
use dpsynth::schema::{draft_from_csv, Schema};

#[derive(Subcommand, Debug)]
pub enum SchemaCmd {
    /// Validate a public schema; with --data, also report encoding problems in a CSV.
    #[command(
        after_help = "Example:\n  dpsynth schema check admissions.schema.toml --data admissions.csv"
    )]
    Check {
        /// Schema file (TOML; JSON and benchmark *-domain.json accepted).
        schema: PathBuf,
        /// CSV to check against the schema (its problems name line, column and value).
        #[arg(long)]
        data: Option<PathBuf>,
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
        SchemaCmd::Check { schema, data } => {
            // A draft is reported as a problem, like every other, but still checked against data.
            let (parsed, mut problems) = match Schema::from_path_for_release(&schema) {
                Ok(s) => (Some(s), Vec::new()),
                Err(e) if e.is_only_draft() => {
                    (Schema::from_path(&schema).ok(), vec![e.to_string()])
                }
                Err(e) => (None, vec![e.to_string()]),
            };
            if let (Some(s), Some(d)) = (&parsed, &data) {
                let errs = check_csv(d, s);
                problems.extend(errs.iter().map(|e| e.to_string()));
                if errs.is_empty() {
                    // Clamping counts are private: shown to the operator here, never in a release.
                    if let Ok((_, report)) = read_csv(d, s) {
                        let clamped = report.total_clamped();
                        let other = report.total_other();
                        if clamped + other > 0 {
                            errln!(
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
                outln!(
                    "{}: ok ({s} modelled columns){}",
                    schema.display(),
                    if data.is_some() {
                        ", data encodes cleanly"
                    } else {
                        ""
                    }
                )?;
                Ok(())
            } else {
                for p in &problems {
                    errln!("{p}");
                }
                bail!("{} problem(s) found", problems.len())
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
