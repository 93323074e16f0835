//! SQL dialects: the few constructs whose spelling differs between engines.
//!
//! Everything else the compiler emits is plain SQL:2003 (`CASE`, `CAST`, `IN`, `COALESCE`,
//! `WITH`, `GROUP BY GROUPING SETS`, `count(*)`, `row_number() OVER (PARTITION BY .. ORDER
//! BY ..)`). What each dialect needs, beyond that:
//!
//! | construct | PostgreSQL | DuckDB | Spark SQL |
//! |---|---|---|---|
//! | identifiers | `"a"` | `"a"` | `` `a` `` |
//! | text type | `TEXT` | `VARCHAR` | `STRING` |
//! | regular expression | `e ~ 'p'` | `regexp_full_match(e, 'p')` | `e RLIKE 'p'` |
//! | NaN test | `e = 'NaN'::float8` | `isnan(e)` | `isnan(e)` |
//! | value list lookup | `array_position(ARRAY[..], e) - 1` | `CASE` chain | `CASE` chain |
//! | bins | `width_bucket(e, ARRAY[..]) - 1` (binary search) | `CASE` chain | `CASE` chain |
//! | row hash (truncation) | `md5(text)` | `md5(text)` | `md5(text)` |
//! | text dates | `regexp_match`, `make_date` (formats of `%Y`, `%m`, `%d`) | not yet | `regexp_extract`, `make_date` |
//!
//! PostgreSQL is executed by dpsynth itself (and tested against a real server); Spark SQL is
//! executed by the Python package through the user's Spark session (python/tests/test_spark.py
//! runs it in local mode); the DuckDB dialect is compiled and its SQL pinned by unit tests,
//! ready for a runner.

use chrono::{NaiveDate, NaiveDateTime};

/// How one SQL engine spells the constructs the schema compiler needs.
pub trait Dialect: Sync {
    fn name(&self) -> &'static str;

    /// A quoted identifier.
    fn ident(&self, name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    /// A string literal.
    fn string(&self, s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    /// The engine's text type.
    fn text_type(&self) -> &'static str {
        "VARCHAR"
    }

    /// `e` as text.
    fn to_text(&self, e: &str) -> String {
        format!("CAST({e} AS {})", self.text_type())
    }

    /// `e` (text) without leading and trailing white space (ASCII white space).
    fn trim(&self, e: &str) -> String {
        format!("TRIM(BOTH {} FROM {e})", self.string(" \t\n\r\u{b}\u{c}"))
    }

    /// Whether text `e` matches the regular expression `pattern` (whole-string anchors are
    /// in the pattern).
    fn matches(&self, e: &str, pattern: &str) -> String;

    /// `e` as a double.
    fn to_double(&self, e: &str) -> String {
        format!("CAST({e} AS DOUBLE)")
    }

    /// A double literal that reads back as exactly `x` (finite).
    fn double(&self, x: f64) -> String {
        format!("CAST('{x:e}' AS DOUBLE)")
    }

    /// Whether the double `e` is NaN.
    fn is_nan(&self, e: &str) -> String {
        format!("isnan({e})")
    }

    /// A date literal.
    fn date(&self, d: NaiveDate) -> String {
        format!("DATE '{}'", d.format("%Y-%m-%d"))
    }

    /// A timestamp literal (to the second).
    fn timestamp(&self, t: NaiveDateTime) -> String {
        format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S"))
    }

    /// 0-based position of text `e` in `values`, NULL if absent.
    fn list_index(&self, e: &str, values: &[String]) -> String {
        if values.is_empty() {
            return "CAST(NULL AS INTEGER)".into();
        }
        let mut s = String::from("CASE");
        for (i, v) in values.iter().enumerate() {
            s.push_str(&format!(" WHEN {e} = {} THEN {i}", self.string(v)));
        }
        s.push_str(" END");
        s
    }

    /// 0-based bin of `e` given the bins' lower bounds (ascending, as SQL literals), for
    /// `e` at or above the first bound: the number of bounds `<= e`, minus one.
    fn bucket(&self, e: &str, lower_bounds: &[String]) -> String {
        if lower_bounds.len() <= 1 {
            return "0".into();
        }
        let mut s = String::from("CASE");
        for (i, b) in lower_bounds.iter().enumerate().skip(1) {
            s.push_str(&format!(" WHEN {e} < {b} THEN {}", i - 1));
        }
        s.push_str(&format!(" ELSE {} END", lower_bounds.len() - 1));
        s
    }

    /// A hex digest of text `e`, used to order rows pseudo-randomly (not for secrecy).
    fn hash(&self, e: &str) -> String {
        format!("md5({e})")
    }

    /// Text concatenation.
    fn concat(&self, parts: &[String]) -> String {
        format!("concat({})", parts.join(", "))
    }

    /// For a text column read as a date with the chrono `format`: an expression that is
    /// true when the text is a valid date in that format, and one giving the date (only
    /// evaluated when valid). `None` when this dialect cannot parse that format in SQL.
    fn text_date(&self, _e: &str, _format: &str) -> Option<(String, String)> {
        None
    }
}

/// PostgreSQL (10 or later).
#[derive(Clone, Copy, Debug, Default)]
pub struct Postgres;

impl Dialect for Postgres {
    fn name(&self) -> &'static str {
        "postgresql"
    }

    fn text_type(&self) -> &'static str {
        "TEXT"
    }

    fn trim(&self, e: &str) -> String {
        format!("btrim({e}, E' \\t\\n\\r\\x0B\\x0C')")
    }

    fn matches(&self, e: &str, pattern: &str) -> String {
        format!("({e} ~ {})", self.string(pattern))
    }

    fn to_double(&self, e: &str) -> String {
        format!("CAST({e} AS DOUBLE PRECISION)")
    }

    fn double(&self, x: f64) -> String {
        format!("CAST('{x:e}' AS DOUBLE PRECISION)")
    }

    fn is_nan(&self, e: &str) -> String {
        format!("({e} = CAST('NaN' AS DOUBLE PRECISION))")
    }

    fn list_index(&self, e: &str, values: &[String]) -> String {
        if values.is_empty() {
            return "CAST(NULL AS INTEGER)".into();
        }
        let list: Vec<String> = values.iter().map(|v| self.string(v)).collect();
        format!(
            "(array_position(CAST(ARRAY[{}] AS TEXT[]), {e}) - 1)",
            list.join(", ")
        )
    }

    fn bucket(&self, e: &str, lower_bounds: &[String]) -> String {
        if lower_bounds.len() <= 1 {
            return "0".into();
        }
        // width_bucket(operand, thresholds) counts the thresholds <= operand (binary search).
        format!(
            "(width_bucket({e}, ARRAY[{}]) - 1)",
            lower_bounds.join(", ")
        )
    }

    fn text_date(&self, e: &str, format: &str) -> Option<(String, String)> {
        let (pattern, order) = date_pattern(format)?;
        let m = format!("regexp_match({e}, {})", self.string(&pattern));
        let part = |k: char| {
            let i = order.iter().position(|&c| c == k).map(|i| i + 1);
            i.map(|i| format!("CAST(({m})[{i}] AS INTEGER)"))
        };
        let (y, mo, d) = (part('Y')?, part('m')?, part('d')?);
        // make_date errors on an impossible date, so validity is checked arithmetically
        // first: month 1..12, day 1..days in that month.
        let days_in_month = format!(
            "CAST(EXTRACT(DAY FROM make_date({y}, {mo}, 1) + INTERVAL '1 month' - INTERVAL '1 day') AS INTEGER)"
        );
        let valid = format!(
            "({m} IS NOT NULL AND {y} BETWEEN 1 AND 9999 AND {mo} BETWEEN 1 AND 12 AND {d} BETWEEN 1 AND (CASE WHEN {mo} BETWEEN 1 AND 12 AND {y} BETWEEN 1 AND 9999 THEN {days_in_month} ELSE 0 END))"
        );
        Some((valid, format!("make_date({y}, {mo}, {d})")))
    }
}

/// DuckDB (compiled, not yet executed by dpsynth).
#[derive(Clone, Copy, Debug, Default)]
pub struct DuckDb;

impl Dialect for DuckDb {
    fn name(&self) -> &'static str {
        "duckdb"
    }

    fn matches(&self, e: &str, pattern: &str) -> String {
        format!("regexp_full_match({e}, {})", self.string(pattern))
    }
}

/// Spark SQL (run by the Python package's `dpsynth.spark.SparkSource`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SparkSql;

impl Dialect for SparkSql {
    fn name(&self) -> &'static str {
        "spark"
    }

    fn ident(&self, name: &str) -> String {
        format!("`{}`", name.replace('`', "``"))
    }

    fn string(&self, s: &str) -> String {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }

    fn text_type(&self) -> &'static str {
        "STRING"
    }

    fn matches(&self, e: &str, pattern: &str) -> String {
        format!("({e} RLIKE {})", self.string(pattern))
    }

    fn text_date(&self, e: &str, format: &str) -> Option<(String, String)> {
        let (pattern, order) = date_pattern(format)?;
        let p = self.string(&pattern);
        // regexp_extract gives '' without a match: NULL, not a cast error under ANSI mode.
        let part = |k: char| {
            let i = order.iter().position(|&c| c == k)? + 1;
            Some(format!(
                "CAST(NULLIF(regexp_extract({e}, {p}, {i}), '') AS INT)"
            ))
        };
        let (y, mo, d) = (part('Y')?, part('m')?, part('d')?);
        // make_date fails on an impossible date (ANSI mode), so validity is checked
        // arithmetically first, and make_date is reached only for a valid year and month.
        let valid = format!(
            "({e} RLIKE {p} AND {y} BETWEEN 1 AND 9999 AND {mo} BETWEEN 1 AND 12 AND {d} BETWEEN 1 AND (CASE WHEN {mo} BETWEEN 1 AND 12 AND {y} BETWEEN 1 AND 9999 THEN day(last_day(make_date({y}, {mo}, 1))) ELSE 0 END))"
        );
        Some((valid, format!("make_date({y}, {mo}, {d})")))
    }
}

/// A regular expression for a chrono date format built from `%Y`, `%m`, `%d` (and `%F`)
/// and literal characters, with the order of its capture groups. Chrono reads `%m` and
/// `%d` with one or two digits and `%Y` with four (here; chrono also takes signed and longer
/// years, which a date column's bounds never need).
fn date_pattern(format: &str) -> Option<(String, Vec<char>)> {
    let format = format.replace("%F", "%Y-%m-%d");
    let mut pattern = String::from("^");
    let mut order = Vec::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next()? {
                'Y' => {
                    pattern.push_str("([0-9]{4})");
                    order.push('Y');
                }
                'm' => {
                    pattern.push_str("([0-9]{1,2})");
                    order.push('m');
                }
                'd' => {
                    pattern.push_str("([0-9]{1,2})");
                    order.push('d');
                }
                '%' => pattern.push('%'),
                _ => return None,
            }
        } else if c.is_ascii_alphanumeric() || c == ' ' || c == '-' || c == '/' || c == '_' {
            pattern.push(c);
        } else if c.is_ascii_punctuation() {
            pattern.push('\\');
            pattern.push(c);
        } else {
            return None;
        }
    }
    pattern.push('$');
    let mut sorted = order.clone();
    sorted.sort_unstable();
    (sorted == ['Y', 'd', 'm']).then_some((pattern, order))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_strings_are_escaped() {
        assert_eq!(Postgres.ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(Postgres.string("it's"), "'it''s'");
        assert_eq!(SparkSql.ident("a`b"), "`a``b`");
        assert_eq!(SparkSql.string("it's \\"), "'it\\'s \\\\'");
    }

    #[test]
    fn bucket_counts_lower_bounds() {
        let b = vec!["0".to_string(), "10".to_string(), "20".to_string()];
        assert_eq!(
            DuckDb.bucket("x", &b),
            "CASE WHEN x < 10 THEN 0 WHEN x < 20 THEN 1 ELSE 2 END"
        );
        assert_eq!(
            Postgres.bucket("x", &b),
            "(width_bucket(x, ARRAY[0, 10, 20]) - 1)"
        );
        assert_eq!(Postgres.bucket("x", &b[..1]), "0");
    }

    #[test]
    fn doubles_round_trip_through_their_literal() {
        for x in [0.1, 1e-7, 1e21, 123456.789, -3.5, 5e-324] {
            let lit = Postgres.double(x);
            let inner = lit.split('\'').nth(1).unwrap();
            assert_eq!(inner.parse::<f64>().unwrap(), x, "{lit}");
        }
    }

    #[test]
    fn date_formats_compile_to_patterns() {
        let (p, o) = date_pattern("%Y-%m-%d").unwrap();
        assert_eq!(p, "^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$");
        assert_eq!(o, vec!['Y', 'm', 'd']);
        let (p, o) = date_pattern("%d.%m.%Y").unwrap();
        assert_eq!(p, "^([0-9]{1,2})\\.([0-9]{1,2})\\.([0-9]{4})$");
        assert_eq!(o, vec!['d', 'm', 'Y']);
        assert!(date_pattern("%b %d %Y").is_none());
        assert!(date_pattern("%Y-%m").is_none());
        assert!(DuckDb.text_date("x", "%Y-%m-%d").is_none());
        assert!(Postgres.text_date("x", "%Y-%m-%d").is_some());
    }
}
