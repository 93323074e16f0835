//! `dpsynth schema check` and `dpsynth schema draft`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum SchemaCmd {
    /// Validate a public schema; with --data, also report encoding problems in a CSV.
    Check {
        /// Schema file (TOML; JSON and benchmark *-domain.json accepted).
        schema: PathBuf,
        /// CSV to check against the schema.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Print a DRAFT schema inferred from a CSV. The draft is derived from private data:
    /// replace every value in it with public knowledge before a release run.
    Draft {
        #[arg(long)]
        data: PathBuf,
    },
}

pub fn run(cmd: SchemaCmd) -> Result<()> {
    match cmd {
        SchemaCmd::Check { .. } | SchemaCmd::Draft { .. } => {
            anyhow::bail!("`dpsynth schema` is not built yet")
        }
    }
}
