//! Where compiled SQL runs: the [`SqlRunner`] seam between the schema compiler and an engine.
//!
//! dpsynth runs PostgreSQL itself ([`PgSource`](super::PgSource)); other engines (Spark, from
//! the Python package, which runs the SQL through the user's Spark session) implement this
//! trait. A runner returns only the rows of the compiled queries: counts per cell of a
//! marginal, and the validation query's problems grouped with counts. No row of the data
//! crosses it.

use crate::data::{DataError, Location, ProblemReport};

use super::compile::{Compiled, Problem};
use super::SqlError;

/// A value in a compiled query's result: codes and counts are integers, problem tags and
/// (on request) offending values are text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
}

impl SqlValue {
    fn text(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            SqlValue::Int(v) => Some(*v),
            _ => None,
        }
    }
}

/// An engine that runs the compiled queries of one source (one snapshot, where the engine
/// has them).
pub trait SqlRunner: Send {
    /// How messages name the source.
    fn describe(&self) -> String;
    /// Runs `sql` and returns every row of its result.
    fn query(&mut self, sql: &str) -> Result<Vec<Vec<SqlValue>>, SqlError>;
    /// Keeps the relation `sql` inside the engine (cached where the engine caches, e.g. a
    /// persisted Spark view) and returns the name to read it by; `None` (the default): the
    /// engine keeps nothing and `sql` is read as a subquery each time. Nothing but the name
    /// comes back: the relation's rows stay in the engine.
    fn materialize(&mut self, sql: &str) -> Result<Option<String>, SqlError> {
        let _ = sql;
        Ok(None)
    }
}

/// Runs the validation query: every cell that would not encode, grouped by column, kind
/// (and value, when `show_values`), with counts, as the CSV reader's errors
/// (`Location::Rows(n)`: n rows share the problem), grouped like a file's problems
/// (PRIVATE: for the operator). Empty means the source encodes cleanly. Values are not
/// even read unless `show_values`: the engine counts the distinct ones.
pub fn validate(
    runner: &mut dyn SqlRunner,
    compiled: &Compiled,
    show_values: bool,
) -> Result<ProblemReport, SqlError> {
    // A clean source (the usual case) is confirmed by one plain aggregate; only a source
    // with problems pays for grouping them.
    if let Some(q) = compiled.problem_count_query() {
        let clean = runner
            .query(&q)?
            .first()
            .and_then(|row| row.first())
            .and_then(SqlValue::int)
            == Some(0);
        if clean {
            return Ok(ProblemReport::default());
        }
    }
    let rows = runner.query(&compiled.validation_query(show_values))?;
    let file = runner.describe();
    let n = compiled.checks.len();
    let mut problems: Vec<(usize, i64, i64, DataError)> = Vec::new();
    for row in rows {
        let cell = |j: usize| row.get(j).unwrap_or(&SqlValue::Null);
        let Some((i, tag)) = (0..n).find_map(|i| cell(2 * i).text().map(|t| (i, t))) else {
            continue;
        };
        let count = cell(2 * n).int().unwrap_or(0);
        let distinct = cell(2 * n + 1 + i).int().unwrap_or(1);
        let check = &compiled.checks[i];
        let value = if show_values {
            cell(2 * i + 1).text().unwrap_or("NULL").to_string()
        } else {
            String::new()
        };
        let (line, column) = (Location::Rows(count.max(0) as u64), check.column.clone());
        let file = file.clone();
        let e = match Problem::from_tag(tag) {
            Some(Problem::Missing) => DataError::MissingValue {
                file,
                line,
                column,
                value,
            },
            Some(Problem::NotInList) => DataError::UnknownValue {
                file,
                line,
                column,
                value,
            },
            Some(Problem::NotANumber) => DataError::NotANumber {
                file,
                line,
                column,
                value,
            },
            Some(Problem::NotAnInteger) => DataError::NotAnInteger {
                file,
                line,
                column,
                value,
            },
            Some(Problem::NotADate) => DataError::NotADate {
                file,
                line,
                column,
                value,
                format: check.format.clone().unwrap_or_default(),
            },
            Some(Problem::MissingUnit) => DataError::MissingUnit { file, line, column },
            None => continue,
        };
        problems.push((i, count, distinct, e));
    }
    // Schema order, then the most frequent first.
    problems.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut report = ProblemReport::default();
    for (_, _, distinct, e) in problems {
        report.add_counted(e, distinct.max(1) as u64);
    }
    Ok(report)
}
