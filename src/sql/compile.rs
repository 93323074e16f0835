//! The public schema compiled to SQL: per column an expression giving the code the CSV
//! reader would give a cell, an expression naming the problem the CSV reader would report,
//! and the queries built from them (validation, marginal counts batched with GROUPING SETS,
//! truncation to K rows per unit).
//!
//! The code layout is the schema's (`schema::column`): listed values or bins in order, then
//! the catch-all, then missing. A NULL is missing, like an empty CSV cell under the default
//! tokens. The rules follow `Column::encode` cell by cell: missing tokens (raw or trimmed),
//! exact value lists, numbers trimmed and parsed (`inf` accepted, NaN refused), integral
//! decimals accepted for integers, numbers and dates clamped to the bounds, dates parsed in
//! the column's format. Typed columns skip the parsing: a number is a number, a `DATE` a
//! date; a `REAL` reads as the shortest decimal that names it (as in Parquet).

use chrono::NaiveDate;

use crate::schema::{Column, ColumnKind, MissingPolicy, Schema};

use super::dialect::Dialect;
use super::SqlError;

/// What a source column holds, as far as encoding cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlType {
    Text,
    Integer,
    /// Binary floating point (`REAL`, `DOUBLE PRECISION`).
    Float,
    /// Exact decimal (`NUMERIC`).
    Decimal,
    Boolean,
    Date,
    Timestamp,
    /// Anything else: read through its text form.
    Other,
}

/// The kinds of problem a cell can have, as the validation query names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Missing, and the column's policy is `missing = "error"`.
    Missing,
    /// Not in the value list, no catch-all.
    NotInList,
    NotANumber,
    NotAnInteger,
    NotADate,
    /// The privacy unit column is missing.
    MissingUnit,
}

impl Problem {
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::NotInList => "list",
            Problem::NotANumber => "nan",
            Problem::NotAnInteger => "int",
            Problem::NotADate => "date",
            Problem::MissingUnit => "unit",
        }
    }

    pub(crate) fn from_tag(t: &str) -> Option<Problem> {
        [
            Problem::Missing,
            Problem::NotInList,
            Problem::NotANumber,
            Problem::NotAnInteger,
            Problem::NotADate,
            Problem::MissingUnit,
        ]
        .into_iter()
        .find(|p| p.tag() == t)
    }
}

/// Where the rows come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relation {
    /// A table or view, optionally schema-qualified (`public.adult`).
    Table(String),
    /// A read-only `SELECT` (run inside a read-only transaction).
    Query(String),
}

/// One checked column: its name, its problem expression, its raw text expression.
#[derive(Clone, Debug)]
pub struct Check {
    pub column: String,
    /// Text naming a [`Problem`], NULL when the cell encodes.
    pub problem: String,
    /// The cell as text (what the CSV reader would quote).
    pub raw: String,
    /// The date format, for date columns (quoted in `NotADate`).
    pub format: Option<String>,
}

/// The schema compiled for one source.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// `SELECT * FROM table`, or the user's query.
    pub source: String,
    /// Per modelled column (schema order): its code, NULL if the cell does not encode.
    pub codes: Vec<String>,
    /// Per checked column (modelled columns, then the unit column).
    pub checks: Vec<Check>,
    /// The privacy unit's value as trimmed text, when there is a unit.
    pub unit: Option<String>,
}

/// Regular expressions for the number forms Rust's `f64` parser accepts.
const NUMBER_RE: &str = "^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$";
const POS_INF_RE: &str = "^[+]?[iI][nN][fF]([iI][nN][iI][tT][yY])?$";
const NEG_INF_RE: &str = "^-[iI][nN][fF]([iI][nN][iI][tT][yY])?$";

/// Compiles `schema` for a source whose columns have the given names and types.
/// `unit_column`: the privacy unit's column, when there is one.
pub fn compile(
    d: &dyn Dialect,
    schema: &Schema,
    relation: &Relation,
    columns: &[(String, SqlType)],
    unit_column: Option<&str>,
) -> Result<Compiled, SqlError> {
    let source = match relation {
        Relation::Table(name) => format!("SELECT * FROM {}", qualified(d, name)),
        Relation::Query(q) => q.trim().trim_end_matches(';').to_string(),
    };
    let type_of = |name: &str| {
        columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
            .unwrap_or(SqlType::Other)
    };
    let mut codes = Vec::new();
    let mut checks = Vec::new();
    for col in schema.modelled() {
        let (code, check) = column(d, col, type_of(col.name()))?;
        codes.push(code);
        checks.push(check);
    }
    let unit = match unit_column {
        None => None,
        Some(name) => {
            let col = schema.column(name).ok_or_else(|| {
                SqlError::Unsupported(format!(
                    "the privacy unit column {name:?} is not in the schema"
                ))
            })?;
            let r = d.ident(name);
            let t = raw_text(d, &r, type_of(name));
            let miss = missing(d, col, &r, &t);
            checks.push(Check {
                column: name.to_string(),
                problem: format!(
                    "CASE WHEN {miss} THEN {} END",
                    d.string(Problem::MissingUnit.tag())
                ),
                raw: t.clone(),
                format: None,
            });
            Some(d.trim(&t))
        }
    };
    Ok(Compiled {
        source,
        codes,
        checks,
        unit,
    })
}

/// `schema.table` with each part quoted.
fn qualified(d: &dyn Dialect, name: &str) -> String {
    name.split('.')
        .map(|p| d.ident(p))
        .collect::<Vec<_>>()
        .join(".")
}

/// The cell as the text a CSV export would hold.
fn raw_text(d: &dyn Dialect, r: &str, t: SqlType) -> String {
    match t {
        SqlType::Text => r.to_string(),
        SqlType::Boolean => {
            format!("CASE WHEN {r} IS NULL THEN NULL WHEN {r} THEN 'true' ELSE 'false' END")
        }
        _ => d.to_text(r),
    }
}

/// Whether the cell is missing: NULL, or one of the column's tokens (raw, or trimmed for
/// non-categorical columns).
fn missing(d: &dyn Dialect, col: &Column, r: &str, t: &str) -> String {
    let tokens = col.missing_tokens();
    if tokens.is_empty() {
        return format!("({r} IS NULL)");
    }
    let list = tokens
        .iter()
        .map(|s| d.string(s))
        .collect::<Vec<_>>()
        .join(", ");
    match col.kind() {
        ColumnKind::Categorical(_) => format!("({r} IS NULL OR {t} IN ({list}))"),
        _ => format!(
            "({r} IS NULL OR {t} IN ({list}) OR {} IN ({list}))",
            d.trim(t)
        ),
    }
}

fn code_or_null(c: Option<u32>) -> String {
    c.map_or("NULL".into(), |c| c.to_string())
}

/// The code and the check of one modelled column.
fn column(d: &dyn Dialect, col: &Column, ty: SqlType) -> Result<(String, Check), SqlError> {
    let r = d.ident(col.name());
    let t = raw_text(d, &r, ty);
    let miss = missing(d, col, &r, &t);
    let mcode = code_or_null(col.missing_code());
    let missing_problem = match col.missing_policy() {
        MissingPolicy::Error => d.string(Problem::Missing.tag()),
        MissingPolicy::Category => "NULL".into(),
    };
    let tag = |p: Problem| d.string(p.tag());
    let mut format = None;
    let (code, problem) = match col.kind() {
        ColumnKind::Categorical(c) => {
            let mut list = c.values().to_vec();
            if let Some(o) = c.other() {
                list.push(o.to_string());
            }
            let idx = d.list_index(&t, &list);
            let other = code_or_null(col.other_code());
            let not_in_list = if col.other_code().is_some() {
                "NULL".to_string()
            } else {
                format!(
                    "CASE WHEN {idx} IS NULL THEN {} END",
                    tag(Problem::NotInList)
                )
            };
            (
                format!("CASE WHEN {miss} THEN {mcode} ELSE COALESCE({idx}, {other}) END"),
                format!("CASE WHEN {miss} THEN {missing_problem} ELSE {not_in_list} END"),
            )
        }
        ColumnKind::Integer(b) | ColumnKind::Float(b) => {
            let integer = matches!(col.kind(), ColumnKind::Integer(_));
            let x = match ty {
                SqlType::Integer | SqlType::Decimal => d.to_double(&r),
                // The shortest decimal naming the value, as a Parquet or CSV reader sees it.
                SqlType::Float => d.to_double(&d.to_text(&r)),
                _ => {
                    let tt = d.trim(&t);
                    format!(
                        "CASE WHEN {} THEN {} WHEN {} THEN {} WHEN {} THEN {} END",
                        d.matches(&tt, NUMBER_RE),
                        d.to_double(&tt),
                        d.matches(&tt, POS_INF_RE),
                        d.to_double("'Infinity'"),
                        d.matches(&tt, NEG_INF_RE),
                        d.to_double("'-Infinity'"),
                    )
                }
            };
            // NaN is refused like the CSV reader refuses it; a NULL x here means "not a number".
            let bad_number = format!("({x} IS NULL OR {})", d.is_nan(&x));
            let not_integer = if integer {
                format!("(floor({x}) <> {x})")
            } else {
                "FALSE".into()
            };
            let n = b.n_bins();
            let lows: Vec<String> = b.edges()[..n].iter().map(|&e| d.double(e)).collect();
            let code = format!(
                "CASE WHEN {miss} THEN {mcode} WHEN {bad_number} OR {not_integer} THEN NULL \
                 WHEN {x} < {} THEN 0 WHEN {x} > {} THEN {} ELSE {} END",
                d.double(b.min()),
                d.double(b.max()),
                n - 1,
                d.bucket(&x, &lows)
            );
            let problem = format!(
                "CASE WHEN {miss} THEN {missing_problem} WHEN {bad_number} THEN {} WHEN {not_integer} THEN {} END",
                tag(Problem::NotANumber),
                tag(Problem::NotAnInteger)
            );
            (code, problem)
        }
        ColumnKind::Date(db) => {
            format = Some(db.format().to_string());
            let date = match ty {
                SqlType::Date => r.clone(),
                SqlType::Timestamp => format!("CAST({r} AS DATE)"),
                _ => {
                    let tt = d.trim(&t);
                    let (valid, expr) = d.text_date(&tt, db.format()).ok_or_else(|| {
                        SqlError::Unsupported(format!(
                            "column {:?}: {} cannot read dates in the format {:?} from text; store the column as a DATE, or use a format made of %Y, %m and %d",
                            col.name(),
                            d.name(),
                            db.format()
                        ))
                    })?;
                    format!("CASE WHEN {valid} THEN {expr} END")
                }
            };
            let starts: Vec<String> = bin_starts(db).into_iter().map(|s| d.date(s)).collect();
            let n = starts.len();
            let code = format!(
                "CASE WHEN {miss} THEN {mcode} WHEN {date} IS NULL THEN NULL \
                 WHEN {date} < {} THEN 0 WHEN {date} > {} THEN {} ELSE {} END",
                d.date(db.min()),
                d.date(db.max()),
                n - 1,
                d.bucket(&date, &starts)
            );
            let problem = format!(
                "CASE WHEN {miss} THEN {missing_problem} WHEN {date} IS NULL THEN {} END",
                tag(Problem::NotADate)
            );
            (code, problem)
        }
        ColumnKind::DateTime(db) => {
            format = Some(
                db.format()
                    .unwrap_or("ISO 8601: YYYY-MM-DDTHH:MM or YYYY-MM-DD HH:MM, seconds optional")
                    .to_string(),
            );
            let stamp = match ty {
                SqlType::Timestamp => r.clone(),
                SqlType::Date => format!("CAST({r} AS TIMESTAMP)"),
                _ => {
                    let tt = d.trim(&t);
                    let (valid, expr) = d.text_datetime(&tt, db.format()).ok_or_else(|| {
                        SqlError::Unsupported(format!(
                            "column {:?}: {} cannot read date-times in the format {:?} from text; store the column as a TIMESTAMP, or use ISO 8601 (no format) or a format made of %Y, %m, %d, %H, %M, %S and %.f",
                            col.name(),
                            d.name(),
                            db.format().unwrap_or("")
                        ))
                    })?;
                    format!("CASE WHEN {valid} THEN {expr} END")
                }
            };
            let starts: Vec<String> = db.starts.iter().map(|&s| d.timestamp(s)).collect();
            let n = starts.len();
            let code = format!(
                "CASE WHEN {miss} THEN {mcode} WHEN {stamp} IS NULL THEN NULL \
                 WHEN {stamp} < {} THEN 0 WHEN {stamp} > {} THEN {} ELSE {} END",
                d.timestamp(db.min()),
                d.timestamp(db.max()),
                n - 1,
                d.bucket(&stamp, &starts)
            );
            let problem = format!(
                "CASE WHEN {miss} THEN {missing_problem} WHEN {stamp} IS NULL THEN {} END",
                tag(Problem::NotADate)
            );
            (code, problem)
        }
        ColumnKind::Id { .. } | ColumnKind::Skip => {
            return Err(SqlError::Unsupported(format!(
                "column {:?} is an id or skip column and is not modelled",
                col.name()
            )))
        }
    };
    Ok((
        code,
        Check {
            column: col.name().to_string(),
            problem,
            raw: t,
            format,
        },
    ))
}

/// The first day of each date bin, in order (the bin of `d` is the number of starts `<= d`,
/// minus one, as `DateBins::bin_of`).
fn bin_starts(db: &crate::schema::DateBins) -> Vec<NaiveDate> {
    db.starts.clone()
}

impl Compiled {
    /// The encoded rows: one code column `c0..` per modelled column (and `u`, the unit,
    /// when there is one).
    pub fn encoded(&self, d: &dyn Dialect) -> String {
        let mut cols: Vec<String> = self
            .codes
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} AS c{i}"))
            .collect();
        if let Some(u) = &self.unit {
            cols.push(format!("{u} AS u"));
        }
        let _ = d;
        format!("SELECT {} FROM ({}) AS src", cols.join(", "), self.source)
    }

    /// The encoded rows after truncation to at most `k` rows per unit: within each unit the
    /// rows with the `k` smallest keyed hashes of their codes (and of their rank among
    /// identical rows) are kept. The choice for one unit depends on that unit's rows (and
    /// the key) only; proofs/sql-source.md.
    pub fn truncated(&self, d: &dyn Dialect, k: u32, key: &str) -> String {
        let n = self.codes.len();
        let cs: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        let mut hashed = vec![d.string(key)];
        for c in &cs {
            hashed.push("','".into());
            hashed.push(d.to_text(c));
        }
        hashed.push("'#'".into());
        hashed.push(d.to_text("dpsynth_dup"));
        format!(
            "SELECT {cols} FROM (SELECT {cols}, row_number() OVER (PARTITION BY u ORDER BY {h}) AS dpsynth_rank \
             FROM (SELECT {cols}, u, row_number() OVER (PARTITION BY u, {cols} ORDER BY u) AS dpsynth_dup FROM ({enc}) AS e) AS dup) AS ranked \
             WHERE dpsynth_rank <= {k}",
            cols = cs.join(", "),
            h = d.hash(&d.concat(&hashed)),
            enc = self.encoded(d),
        )
    }

    /// One scan counting every clique of `sets` (attribute lists of modelled columns) over
    /// `rows` (from [`Compiled::encoded`] or [`Compiled::truncated`]). The result has a column
    /// per attribute of `attrs` (the union of the sets, ascending; NULL where the row's set
    /// does not group by it) and the count last. Codes are never NULL in validated data,
    /// so a row's non-NULL columns name its set; an unencodable cell would show as -1.
    pub fn count_query(rows: &str, attrs: &[usize], sets: &[Vec<usize>]) -> String {
        Self::count_query_with(rows, attrs, sets, false)
    }

    /// The encoded rows `rows` (from [`Compiled::encoded`] or [`Compiled::truncated`]) of
    /// `n_codes` code columns, aggregated by distinct row: the codes and the number of rows
    /// holding them (`dpsynth_n`). Counting over it ([`Compiled::count_query_with`],
    /// weighted) gives the counts of counting over `rows`, from fewer (never more) rows; an
    /// engine keeps it (cached) so that every batch of marginals scans it instead of
    /// re-reading and re-encoding the source.
    pub fn weighted(rows: &str, n_codes: usize) -> String {
        let cs: Vec<String> = (0..n_codes).map(|i| format!("c{i}")).collect();
        if cs.is_empty() {
            return format!("SELECT count(*) AS dpsynth_n FROM ({rows}) AS r");
        }
        format!(
            "SELECT {cols}, count(*) AS dpsynth_n FROM ({rows}) AS r GROUP BY {cols}",
            cols = cs.join(", ")
        )
    }

    /// [`Compiled::count_query`]; with `weighted`, over rows from [`Compiled::weighted`]
    /// (each row counts `dpsynth_n` times).
    pub fn count_query_with(
        rows: &str,
        attrs: &[usize],
        sets: &[Vec<usize>],
        weighted: bool,
    ) -> String {
        let mut cols: Vec<String> = attrs
            .iter()
            .map(|a| format!("COALESCE(c{a}, -1) AS g{a}"))
            .collect();
        let count = if weighted {
            cols.push("dpsynth_n".into());
            "sum(dpsynth_n)"
        } else {
            "count(*)"
        };
        let grouped: Vec<String> = attrs.iter().map(|a| format!("g{a}")).collect();
        let sets: Vec<String> = sets
            .iter()
            .map(|s| {
                format!(
                    "({})",
                    s.iter()
                        .map(|a| format!("g{a}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        let select = if grouped.is_empty() {
            count.to_string()
        } else {
            format!("{}, {count}", grouped.join(", "))
        };
        let inner = if cols.is_empty() {
            format!("SELECT 1 AS one FROM ({rows}) AS enc")
        } else {
            format!("SELECT {} FROM ({rows}) AS enc", cols.join(", "))
        };
        format!(
            "SELECT {select} FROM ({inner}) AS g GROUP BY GROUPING SETS ({})",
            sets.join(", ")
        )
    }

    /// How many rows have a problem in any checked column: one plain aggregate, a single
    /// scan (no grouping sets, no distinct counts), so that a clean source is confirmed
    /// cheaply before [`Compiled::validation_query`] groups its problems. `None` when no
    /// column is checked.
    pub fn problem_count_query(&self) -> Option<String> {
        if self.checks.is_empty() {
            return None;
        }
        let inner: Vec<String> = self
            .checks
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} AS p{i}", c.problem))
            .collect();
        let any: Vec<String> = (0..self.checks.len())
            .map(|i| format!("p{i} IS NOT NULL"))
            .collect();
        Some(format!(
            "SELECT count(*) FROM (SELECT {} FROM ({}) AS src) AS chk WHERE {}",
            inner.join(", "),
            self.source,
            any.join(" OR ")
        ))
    }

    /// The validation query: per checked column, its problems grouped by kind (and by value
    /// when `with_values`), counted. Columns `p0, v0, p1, v1, ...` then the count; a row's
    /// non-NULL `p` names its column. Values never leave the database unless asked for.
    pub fn validation_query(&self, with_values: bool) -> String {
        let mut inner = Vec::new();
        let mut sets = Vec::new();
        let mut select = Vec::new();
        for (i, c) in self.checks.iter().enumerate() {
            inner.push(format!("{} AS p{i}", c.problem));
            if with_values {
                inner.push(format!(
                    "CASE WHEN {} IS NOT NULL THEN COALESCE({}, 'NULL') END AS v{i}",
                    c.problem, c.raw
                ));
                sets.push(format!("(p{i}, v{i})"));
                select.push(format!("p{i}, v{i}"));
            } else {
                // Values stay in the database: only how many distinct ones each problem has.
                inner.push(format!(
                    "CASE WHEN {} IS NOT NULL THEN COALESCE({}, 'NULL') END AS v{i}",
                    c.problem, c.raw
                ));
                sets.push(format!("(p{i})"));
                select.push(format!("p{i}, NULL AS v{i}"));
            }
        }
        let distinct: Vec<String> = (0..self.checks.len())
            .map(|i| {
                if with_values {
                    "CAST(1 AS BIGINT)".to_string()
                } else {
                    format!("count(DISTINCT v{i})")
                }
            })
            .collect();
        format!(
            "SELECT {}, count(*), {} FROM (SELECT {} FROM ({}) AS src) AS chk GROUP BY GROUPING SETS ({})",
            select.join(", "),
            distinct.join(", "),
            inner.join(", "),
            self.source,
            sets.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::dialect::{DuckDb, Postgres, SparkSql};

    const SCHEMA: &str = r#"
[[columns]]
name = "pid"
kind = "id"

[[columns]]
name = "sex"
kind = "categorical"
values = ["F", "M"]

[[columns]]
name = "age"
kind = "integer"
min = 0
max = 99
bin_width = 10
missing = "category"

[[columns]]
name = "day"
kind = "date"
min = "2022-01-01"
max = "2022-12-31"
unit = "month"
"#;

    fn schema() -> Schema {
        Schema::from_toml_str(SCHEMA, "s.toml").unwrap()
    }

    #[test]
    fn date_bin_starts_follow_the_schema() {
        let s = schema();
        let ColumnKind::Date(db) = s.column("day").unwrap().kind() else {
            panic!()
        };
        let starts = bin_starts(db);
        assert_eq!(starts.len(), 12);
        assert_eq!(starts[1], NaiveDate::from_ymd_opt(2022, 2, 1).unwrap());
    }

    #[test]
    fn compiles_for_every_dialect() {
        let s = schema();
        let cols = vec![
            ("pid".to_string(), SqlType::Text),
            ("sex".to_string(), SqlType::Text),
            ("age".to_string(), SqlType::Text),
            ("day".to_string(), SqlType::Date),
        ];
        for d in [&Postgres as &dyn Dialect, &DuckDb, &SparkSql] {
            let c = compile(
                d,
                &s,
                &Relation::Table("public.t".into()),
                &cols,
                Some("pid"),
            )
            .unwrap();
            assert_eq!(c.codes.len(), 3);
            assert_eq!(c.checks.len(), 4);
            let q = Compiled::count_query(
                &c.truncated(d, 3, "k"),
                &[0, 2],
                &[vec![0], vec![0, 2], vec![]],
            );
            assert!(q.contains("GROUPING SETS ((g0), (g0, g2), ())"), "{q}");
            assert!(c.validation_query(false).contains("GROUPING SETS"));
        }
        let c = compile(
            &Postgres,
            &s,
            &Relation::Table("public.t".into()),
            &cols,
            None,
        )
        .unwrap();
        assert!(c.source.ends_with("\"public\".\"t\""), "{}", c.source);
        assert!(c.codes[1].contains("width_bucket"), "{}", c.codes[1]);
        let spark = compile(&SparkSql, &s, &Relation::Table("t".into()), &cols, None).unwrap();
        assert!(spark.source.contains("`t`"));
        assert!(spark.codes[1].contains("RLIKE"));
    }

    #[test]
    fn text_dates_need_a_supported_format() {
        let s = schema();
        let cols = vec![("day".to_string(), SqlType::Text)];
        assert!(compile(
            &Postgres,
            &s,
            &Relation::Query("SELECT 1".into()),
            &cols,
            None
        )
        .is_ok());
        let e = compile(
            &DuckDb,
            &s,
            &Relation::Query("SELECT 1".into()),
            &cols,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("DATE"), "{e}");
    }
}
