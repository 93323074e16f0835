//! Counting inside a database: the public schema compiled to SQL, and a [`SqlOracle`] that
//! answers the mechanisms' marginal queries with `GROUP BY GROUPING SETS`, so that only
//! counts (still private, still used only through the mechanisms) leave the database.
//!
//! - [`dialect`]: the few constructs whose spelling differs between engines (PostgreSQL is
//!   executed; DuckDB and Spark SQL are compiled, ready for a runner).
//! - [`compile`]: schema to SQL: per column the code expression and the problem expression
//!   (the CSV reader's rules, cell for cell), the validation query, the count query, the
//!   truncation to K rows per unit.
//! - [`postgres`]: the PostgreSQL connection (password from `PGPASSWORD` or `.pgpass` only),
//!   one read-only repeatable-read transaction per run, so every count of a run comes from
//!   one snapshot of the table.
//! - [`runner`]: [`SqlRunner`], where compiled SQL runs (PostgreSQL here; Spark through the
//!   Python package's session), and the validation of a source through it.
//! - [`oracle`]: [`SqlOracle`], the `MarginalOracle` over a runner: batched, zero-filled
//!   over the public domain, cached.
//!
//! Proof that this path releases nothing but what the in-memory path releases:
//! proofs/sql-source.md.

pub mod compile;
pub mod dialect;
pub mod oracle;
pub mod postgres;
pub mod runner;

pub use compile::{compile, Compiled, Problem, Relation, SqlType};
pub use dialect::{Dialect, DuckDb, Postgres, SparkSql};
pub use oracle::SqlOracle;
pub use postgres::{is_postgres_url, PgSource};
pub use runner::{validate, SqlRunner, SqlValue};

/// A problem with a SQL source. Messages name the server (never a password), the table or
/// query, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("{0}: not a PostgreSQL URL ({1}); expected postgresql://USER@HOST:PORT/DATABASE")]
    Url(String, String),
    #[error("{0}: the URL contains a password; dpsynth never takes a password on the command line (it would show in the process list and shell history). Remove it from the URL and set PGPASSWORD, or add it to ~/.pgpass (mode 0600)")]
    PasswordInUrl(String),
    #[error("{target}: cannot connect: {message}")]
    Connect { target: String, message: String },
    #[error("{target}: authentication failed for user {user:?}: {message}. dpsynth reads the password from PGPASSWORD or from ~/.pgpass (PGPASSFILE), never from the command line")]
    Auth {
        target: String,
        user: String,
        message: String,
    },
    #[error("{target}: {message}")]
    Query { target: String, message: String },
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "give exactly one of --table NAME or --query 'SELECT ...' with a postgresql:// --data"
    )]
    NoRelation,
}
