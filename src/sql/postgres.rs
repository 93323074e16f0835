//! A PostgreSQL source: connection, password lookup, one snapshot per run, column types.
//!
//! The password comes from `PGPASSWORD` or a `.pgpass` file (`PGPASSFILE`, else
//! `~/.pgpass`, honoured only when not readable by group or others, as libpq does), never
//! from the command line: a URL with a password is refused. Every query of a run executes
//! in one `REPEATABLE READ, READ ONLY` transaction: all counts come from one snapshot (rows
//! written meanwhile are not seen; DDL on the table waits for the run), and a `--query`
//! cannot write.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use postgres::config::Host;
use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

use crate::data::ProblemReport;
use crate::schema::Schema;

use super::compile::{compile, Compiled, Relation, SqlType};
use super::dialect::{Dialect, Postgres};
use super::runner::{SqlRunner, SqlValue};
use super::SqlError;

/// Connection timeout when the URL does not set `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `--data` names a PostgreSQL database.
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgresql://") || s.starts_with("postgres://")
}

/// An open connection to the source, inside the run's snapshot transaction.
pub struct PgSource {
    pub(crate) client: Client,
    /// `postgresql://user@host:port/db` (no password).
    target: String,
    relation: Relation,
    /// Source columns and their types, in source order.
    columns: Vec<(String, SqlType)>,
}

impl PgSource {
    /// Connects, opens the snapshot transaction and reads the relation's columns.
    pub fn connect(url: &str, relation: Relation) -> Result<PgSource, SqlError> {
        let mut config =
            Config::from_str(url).map_err(|e| SqlError::Url(redact(url), e.to_string()))?;
        if config.get_password().is_some() {
            return Err(SqlError::PasswordInUrl(redact(url)));
        }
        let user = match config.get_user() {
            Some(u) => u.to_string(),
            None => std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "postgres".into()),
        };
        config.user(&user);
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => {
                // libpq's default: the local socket directory.
                config.host_path("/var/run/postgresql");
                "/var/run/postgresql".into()
            }
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let dbname = config.get_dbname().unwrap_or(&user).to_string();
        let target = format!("postgresql://{user}@{host}:{port}/{dbname}");
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let password = std::env::var("PGPASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
            .or_else(|| pgpass_password(&host, port, &dbname, &user));
        if let Some(p) = password {
            config.password(p);
        }
        let mut client = config
            .connect(NoTls)
            .map_err(|e| connect_error(&target, &user, &e))?;
        // One snapshot for the whole run; text forms that match the file readers.
        client
            .batch_execute(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
                 SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL extra_float_digits = 1; \
                 SET LOCAL TimeZone = 'UTC'",
            )
            .map_err(|e| query_error(&target, &e))?;
        let mut src = PgSource {
            client,
            target,
            relation,
            columns: Vec::new(),
        };
        src.columns = src.read_columns()?;
        Ok(src)
    }

    /// How messages name this source: the server and the table (or "query").
    pub fn describe(&self) -> String {
        match &self.relation {
            Relation::Table(t) => format!("{} table {t}", self.target),
            Relation::Query(_) => format!("{} query", self.target),
        }
    }

    /// Column names, in source order (the "header").
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|(n, _)| n.clone()).collect()
    }

    fn read_columns(&mut self) -> Result<Vec<(String, SqlType)>, SqlError> {
        let source = match &self.relation {
            Relation::Table(name) => {
                let q: Vec<String> = name.split('.').map(|p| Postgres.ident(p)).collect();
                format!("SELECT * FROM {}", q.join("."))
            }
            Relation::Query(q) => q.trim().trim_end_matches(';').to_string(),
        };
        let stmt = self
            .client
            .prepare(&format!("SELECT * FROM ({source}) AS src LIMIT 0"))
            .map_err(|e| query_error(&self.describe(), &e))?;
        Ok(stmt
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), sql_type(c.type_().name())))
            .collect())
    }

    /// Compiles the schema for this source.
    pub fn compile(&self, schema: &Schema, unit: Option<&str>) -> Result<Compiled, SqlError> {
        compile(&Postgres, schema, &self.relation, &self.columns, unit)
    }

    /// Runs the validation query: every cell that would not encode, grouped by column,
    /// kind (and value, when `show_values`), with counts, as the CSV reader's errors
    /// (`Location::Rows(n)`: n rows share the problem), grouped like a file's problems
    /// (PRIVATE: for the operator). Empty means the source encodes cleanly. Values are not
    /// even read unless `show_values`: the database counts the distinct ones.
    pub fn validate(
        &mut self,
        compiled: &Compiled,
        show_values: bool,
    ) -> Result<ProblemReport, SqlError> {
        super::runner::validate(self, compiled, show_values)
    }
}

impl SqlRunner for PgSource {
    fn describe(&self) -> String {
        PgSource::describe(self)
    }

    fn query(&mut self, sql: &str) -> Result<Vec<Vec<SqlValue>>, SqlError> {
        let rows = self
            .client
            .query(sql, &[])
            .map_err(|e| query_error(&self.describe(), &e))?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|j| value(row, j))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| query_error(&self.describe(), &e))
            })
            .collect()
    }
}

/// One cell of a result row: integers as integers, anything else as text.
fn value(row: &postgres::Row, j: usize) -> Result<SqlValue, postgres::Error> {
    use postgres::types::Type;
    let int = |v: Option<i64>| v.map_or(SqlValue::Null, SqlValue::Int);
    Ok(match *row.columns()[j].type_() {
        Type::INT2 => int(row.try_get::<_, Option<i16>>(j)?.map(i64::from)),
        Type::INT4 => int(row.try_get::<_, Option<i32>>(j)?.map(i64::from)),
        Type::INT8 => int(row.try_get::<_, Option<i64>>(j)?),
        _ => row
            .try_get::<_, Option<String>>(j)?
            .map_or(SqlValue::Null, SqlValue::Text),
    })
}

impl Drop for PgSource {
    fn drop(&mut self) {
        // Read-only: nothing to keep. Ends the snapshot before the connection closes.
        let _ = self.client.batch_execute("ROLLBACK");
    }
}

fn sql_type(name: &str) -> SqlType {
    match name {
        "text" | "varchar" | "bpchar" | "name" | "citext" => SqlType::Text,
        "int2" | "int4" | "int8" => SqlType::Integer,
        "float4" | "float8" => SqlType::Float,
        "numeric" => SqlType::Decimal,
        "bool" => SqlType::Boolean,
        "date" => SqlType::Date,
        "timestamp" | "timestamptz" => SqlType::Timestamp,
        _ => SqlType::Other,
    }
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    // postgresql://user:password@host/... -> postgresql://user:***@host/...
    let Some(rest) = url.split_once("://").map(|(_, r)| r) else {
        return url.to_string();
    };
    let scheme = &url[..url.len() - rest.len()];
    match rest.split_once('@') {
        Some((cred, tail)) if cred.contains(':') => {
            let user = cred.split(':').next().unwrap_or("");
            format!("{scheme}{user}:***@{tail}")
        }
        _ => url.to_string(),
    }
}

fn connect_error(target: &str, user: &str, e: &postgres::Error) -> SqlError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return SqlError::Auth {
                target: target.into(),
                user: user.into(),
                message: db.message().into(),
            };
        }
        return SqlError::Connect {
            target: target.into(),
            message: db.message().into(),
        };
    }
    let text = error_chain(e);
    let message = if text.contains("password missing") {
        "the server asks for a password and none was found: set PGPASSWORD, or add the password to ~/.pgpass (mode 0600)".to_string()
    } else if text.to_lowercase().contains("timed out") || text.contains("timeout") {
        format!("timed out ({text}); check the host and port, and that a firewall lets the connection through")
    } else if text.contains("refused") || text.contains("No such file") {
        format!("{text}; is the server running and listening there?")
    } else {
        text
    };
    SqlError::Connect {
        target: target.into(),
        message,
    }
}

fn query_error(target: &str, e: &postgres::Error) -> SqlError {
    let message = match e.as_db_error() {
        Some(db) => {
            let code = db.code();
            if *code == SqlState::UNDEFINED_TABLE {
                format!("{}; check --table (schema-qualify it as schema.table if needed) and that this user may see it", db.message())
            } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
                format!("{}; the user needs SELECT on the table", db.message())
            } else if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
                format!(
                    "{}; --query must only read (dpsynth runs it in a read-only transaction)",
                    db.message()
                )
            } else if *code == SqlState::QUERY_CANCELED {
                format!("{} (the server's statement_timeout, or an operator, cancelled the query); nothing was released", db.message())
            } else if *code == SqlState::UNDEFINED_COLUMN {
                format!(
                    "{}; the schema names a column the source does not have",
                    db.message()
                )
            } else {
                db.message().to_string()
            }
        }
        None if e.is_closed() => {
            "the connection to the server was lost; nothing was released".to_string()
        }
        None => error_chain(e),
    };
    SqlError::Query {
        target: target.into(),
        message,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// The password for a connection from a `.pgpass` file, as libpq reads it: lines
/// `host:port:database:user:password`, `*` matching anything, `\:` and `\\` escaped, the
/// first match wins; the file is ignored when group or others can read it.
fn pgpass_password(host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let path = match std::env::var_os("PGPASSFILE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".pgpass"),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&path).ok()?;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: password file {} has group or world access; ignoring it (chmod 0600 it)",
                path.display()
            );
            return None;
        }
    }
    let text = std::fs::read_to_string(&path).ok()?;
    // A socket directory matches "localhost" in .pgpass, as in libpq.
    let host = if host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    pgpass_lookup(&text, host, port, db, user)
}

fn pgpass_lookup(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() != 5 {
            continue;
        }
        let ok = |f: &str, v: &str| f == "*" || f == v;
        if ok(&fields[0], host)
            && ok(&fields[1], &port)
            && ok(&fields[2], db)
            && ok(&fields[3], user)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_matches_like_libpq() {
        let text = "# comment\n\
            other:5432:*:*:nope\n\
            localhost:5433:db:alice:first\n\
            *:*:*:alice:p\\:w\\\\d\n";
        assert_eq!(
            pgpass_lookup(text, "localhost", 5433, "db", "alice").as_deref(),
            Some("first")
        );
        assert_eq!(
            pgpass_lookup(text, "db.example", 5432, "x", "alice").as_deref(),
            Some("p:w\\d")
        );
        assert_eq!(pgpass_lookup(text, "localhost", 5433, "db", "bob"), None);
    }

    #[test]
    fn urls_with_passwords_are_refused_and_redacted() {
        let e = match PgSource::connect(
            "postgresql://alice:secret@127.0.0.1:1/db",
            Relation::Table("t".into()),
        ) {
            Err(e) => e,
            Ok(_) => panic!("connected"),
        };
        let m = e.to_string();
        assert!(matches!(e, SqlError::PasswordInUrl(_)), "{m}");
        assert!(!m.contains("secret"), "{m}");
        assert!(m.contains("PGPASSWORD"), "{m}");
        assert!(is_postgres_url("postgres://x/y") && !is_postgres_url("data.csv"));
    }
}
