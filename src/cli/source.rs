//! Database sources on the command line: `--data postgresql://... --table T | --query Q`.

use anyhow::{bail, Result};
use clap::Args;

use dpsynth::data::{check_header, DataError, ReadOptions};
use dpsynth::marginal::Domain;
use dpsynth::privacy::PrivacyUnit;
use dpsynth::schema::Schema;
use dpsynth::sql::{PgSource, Relation, SqlError, SqlOracle};

use super::problems::ProblemArgs;

/// Where the rows are when `--data` is a database.
#[derive(Args, Debug, Clone, Default)]
pub struct SourceArgs {
    /// With a postgresql:// --data: the table or view to read (schema.table allowed).
    #[arg(long, conflicts_with = "query")]
    pub table: Option<String>,
    /// With a postgresql:// --data: a SELECT whose rows are the data (run read-only).
    #[arg(long)]
    pub query: Option<String>,
}

impl SourceArgs {
    pub fn relation(&self) -> Result<Relation, SqlError> {
        match (&self.table, &self.query) {
            (Some(t), None) => Ok(Relation::Table(t.clone())),
            (None, Some(q)) => Ok(Relation::Query(q.clone())),
            _ => Err(SqlError::NoRelation),
        }
    }
}

/// Connects, checks the columns and every cell against the schema in the database (problems
/// grouped by the database with their row counts, values hidden unless --show-values), and
/// returns the oracle. Nothing is spent.
pub fn open_sql(
    url: &str,
    args: &SourceArgs,
    schema: &Schema,
    opts: &ReadOptions,
    unit: &PrivacyUnit,
    shown: &ProblemArgs,
) -> Result<SqlOracle> {
    let mut src = connect_checked(url, args, schema, opts)?;
    let compiled = src.compile(schema, unit.unit_column())?;
    // Grouped like a file's problems (PRIVATE: the operator's terminal only).
    let problems = src.validate(&compiled, shown.show_values)?;
    if !problems.is_empty() {
        let (lines, n) = problems.render(shown.show_values, shown.max_problems as usize);
        for line in lines {
            errln!("{line}");
        }
        bail!(
            "{}: {n} problem(s) in the data; fix them (or the schema) and run again; nothing was spent",
            src.describe()
        );
    }
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    Ok(SqlOracle::new(src, &compiled, domain, unit)?)
}

/// Connects and checks the source's columns against the schema.
pub fn connect_checked(
    url: &str,
    args: &SourceArgs,
    schema: &Schema,
    opts: &ReadOptions,
) -> Result<PgSource> {
    let src = PgSource::connect(url, args.relation()?)?;
    report(&check_header(
        &src.describe(),
        schema,
        opts,
        &src.column_names(),
    ))?;
    Ok(src)
}

/// Fails with every problem listed (for the trusted operator).
pub fn report(problems: &[DataError]) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    if problems.len() == 1 {
        bail!("{}", problems[0]);
    }
    for p in problems {
        errln!("{p}");
    }
    bail!(
        "{} problem(s) found in the data source; nothing was spent",
        problems.len()
    )
}
