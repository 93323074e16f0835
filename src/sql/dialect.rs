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
//! | bins | `width_bucket(e, ARRAY[..]) - 1` (binary search) | `CASE` chain | `size(filter(array(..), ..))`, `e` once |
//! | row hash (truncation) | `md5(text)` | `md5(text)` | `md5(text)` |
//! | text dates | `regexp_match`, `make_date` (formats of `%Y`, `%m`, `%d`) | not yet | `regexp_extract`, `make_date` |
//! | text date-times | `regexp_match`, `make_timestamp` (ISO 8601, or formats of `%Y %m %d %H %M %S %.f`) | not yet | `regexp_extract`, `make_timestamp` |
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

    /// Capture group `i` (1-based) of `pattern` in text `e` as an integer, NULL when `e`
    /// does not match or the group is empty. `None`: the dialect has no way to extract it
    /// (then text dates are refused with a message rather than misread).
    fn regex_int(&self, _e: &str, _pattern: &str, _i: usize) -> Option<String> {
        None
    }

    /// The number of days in month `mo` of year `y` (both valid integer expressions).
    fn days_in_month(&self, y: &str, mo: &str) -> String {
        format!("day(last_day(make_date({y}, {mo}, 1)))")
    }

    /// The timestamp of a valid date and time to the minute.
    fn make_timestamp(&self, y: &str, mo: &str, d: &str, h: &str, mi: &str) -> String {
        format!("make_timestamp({y}, {mo}, {d}, {h}, {mi}, 0)")
    }

    /// For a text column read as a date with the chrono `format`: an expression that is
    /// true when the text is a valid date in that format, and one giving the date (only
    /// evaluated when valid). `None` when this dialect cannot parse that format in SQL.
    fn text_date(&self, e: &str, format: &str) -> Option<(String, String)> {
        let p = stamp_pattern(Some(format), false)?;
        text_stamp(self, e, &p)
    }

    /// As [`Dialect::text_date`] for a date-time column: the chrono `format`, or without
    /// one the ISO 8601 forms the CSV reader accepts (`T` or a space; seconds and fractions
    /// optional). The value is truncated to the minute, which bins exactly: every bin of a
    /// date-time column starts on a whole minute, and the bounds are whole minutes.
    fn text_datetime(&self, e: &str, format: Option<&str>) -> Option<(String, String)> {
        let p = stamp_pattern(format, true)?;
        text_stamp(self, e, &p)
    }
}

/// A date or date-time format as a regular expression with the fields its capture groups
/// hold (`Y m d H M S`, one group each; other groups are non-capturing).
struct StampPattern {
    pattern: String,
    fields: Vec<char>,
}

/// The validity test and value of text `e` read with `p`, following chrono's rules: a
/// whole-string match, month 1..12, day 1..days in that month, hour 0..23, minute 0..59,
/// second 0..60 (a leap second). The value is built only where the test holds, as
/// `make_date` and `make_timestamp` fail on impossible fields.
fn text_stamp<D: Dialect + ?Sized>(d: &D, e: &str, p: &StampPattern) -> Option<(String, String)> {
    let field = |k: char| -> Option<String> {
        let i = p.fields.iter().position(|&c| c == k)? + 1;
        d.regex_int(e, &p.pattern, i)
    };
    let (y, mo, dd) = (field('Y')?, field('m')?, field('d')?);
    let days = d.days_in_month(&y, &mo);
    let mut valid = format!(
        "({} AND {y} BETWEEN 1 AND 9999 AND {mo} BETWEEN 1 AND 12 AND {dd} BETWEEN 1 AND (CASE WHEN {mo} BETWEEN 1 AND 12 AND {y} BETWEEN 1 AND 9999 THEN {days} ELSE 0 END)",
        d.matches(e, &p.pattern)
    );
    if !p.fields.contains(&'H') {
        valid.push(')');
        return Some((valid, format!("make_date({y}, {mo}, {dd})")));
    }
    let (h, mi) = (field('H')?, field('M')?);
    valid.push_str(&format!(
        " AND {h} BETWEEN 0 AND 23 AND {mi} BETWEEN 0 AND 59"
    ));
    if let Some(s) = field('S') {
        valid.push_str(&format!(" AND ({s} IS NULL OR {s} BETWEEN 0 AND 60)"));
    }
    valid.push(')');
    Some((valid, d.make_timestamp(&y, &mo, &dd, &h, &mi)))
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

    fn regex_int(&self, e: &str, pattern: &str, i: usize) -> Option<String> {
        Some(format!(
            "CAST((regexp_match({e}, {}))[{i}] AS INTEGER)",
            self.string(pattern)
        ))
    }

    fn days_in_month(&self, y: &str, mo: &str) -> String {
        format!("CAST(EXTRACT(DAY FROM make_date({y}, {mo}, 1) + INTERVAL '1 month' - INTERVAL '1 day') AS INTEGER)")
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

    /// The number of bounds after the first that are `<= e`, with `e` evaluated once (bound
    /// to a lambda variable). The default `CASE` chain repeats `e` once per bin: for a text
    /// date-time (a large parsing expression) with hundreds of hourly bins Spark's plan grew
    /// until the JVM ran out of heap on 400 rows (python/tests/test_spark.py).
    fn bucket(&self, e: &str, lower_bounds: &[String]) -> String {
        if lower_bounds.len() <= 1 {
            return "0".into();
        }
        format!(
            "element_at(transform(array({e}), dpsynth_v -> size(filter(array({}), dpsynth_b -> dpsynth_b <= dpsynth_v))), 1)",
            lower_bounds[1..].join(", ")
        )
    }

    fn regex_int(&self, e: &str, pattern: &str, i: usize) -> Option<String> {
        // regexp_extract gives '' without a match: NULL, not a cast error under ANSI mode.
        Some(format!(
            "CAST(NULLIF(regexp_extract({e}, {}, {i}), '') AS INT)",
            self.string(pattern)
        ))
    }
}

/// The ISO 8601 date-times the CSV reader accepts without a `format`: `T` or a space between
/// date and time, seconds and fractions of a second optional.
const ISO_DATETIME_RE: &str =
    "^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})[T ]([0-9]{1,2}):([0-9]{1,2})(?::([0-9]{1,2})(?:[.][0-9]+)?)?$";

/// A chrono date (or, `with_time`, date-time) format as a regular expression. Formats built
/// from `%Y`, `%m`, `%d` (and `%F`), with a time `%H`, `%M`, optional `%S`, `%.f` (and `%T`,
/// `%R`), and literal characters; `None` for anything else (the caller refuses it with a
/// message). Chrono reads `%m`, `%d`, `%H`, `%M`, `%S` with one or two digits and `%Y` with
/// four (here; chrono also takes signed and longer years, which a column's bounds never
/// need). A date-time without a format reads as [`ISO_DATETIME_RE`].
fn stamp_pattern(format: Option<&str>, with_time: bool) -> Option<StampPattern> {
    let Some(format) = format else {
        return with_time.then(|| StampPattern {
            pattern: ISO_DATETIME_RE.to_string(),
            fields: vec!['Y', 'm', 'd', 'H', 'M', 'S'],
        });
    };
    let format = format
        .replace("%F", "%Y-%m-%d")
        .replace("%T", "%H:%M:%S")
        .replace("%R", "%H:%M");
    let mut pattern = String::from("^");
    let mut fields = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next()? {
                'Y' => {
                    pattern.push_str("([0-9]{4})");
                    fields.push('Y');
                }
                k @ ('m' | 'd' | 'H' | 'M' | 'S') => {
                    pattern.push_str("([0-9]{1,2})");
                    fields.push(k);
                }
                '.' if chars.peek() == Some(&'f') => {
                    chars.next();
                    pattern.push_str("(?:[.][0-9]+)?");
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
    let mut sorted = fields.clone();
    sorted.sort_unstable();
    let ok = if with_time {
        sorted == ['H', 'M', 'Y', 'd', 'm'] || sorted == ['H', 'M', 'S', 'Y', 'd', 'm']
    } else {
        sorted == ['Y', 'd', 'm']
    };
    ok.then_some(StampPattern { pattern, fields })
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
        // Spark: the value appears once, however many bins.
        let spark = SparkSql.bucket("x", &b);
        assert_eq!(spark.matches('x').count(), 1, "{spark}");
        assert_eq!(
            spark,
            "element_at(transform(array(x), dpsynth_v -> size(filter(array(10, 20), dpsynth_b -> dpsynth_b <= dpsynth_v))), 1)"
        );
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
        let p = stamp_pattern(Some("%Y-%m-%d"), false).unwrap();
        assert_eq!(p.pattern, "^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$");
        assert_eq!(p.fields, vec!['Y', 'm', 'd']);
        let p = stamp_pattern(Some("%d.%m.%Y"), false).unwrap();
        assert_eq!(p.pattern, "^([0-9]{1,2})\\.([0-9]{1,2})\\.([0-9]{4})$");
        assert_eq!(p.fields, vec!['d', 'm', 'Y']);
        assert!(stamp_pattern(Some("%b %d %Y"), false).is_none());
        assert!(stamp_pattern(Some("%Y-%m"), false).is_none());
        // A date column's format may not carry a time, nor a date-time's lack one.
        assert!(stamp_pattern(Some("%Y-%m-%d %H:%M"), false).is_none());
        assert!(stamp_pattern(Some("%Y-%m-%d"), true).is_none());
        assert!(stamp_pattern(None, false).is_none());
        assert!(DuckDb.text_date("x", "%Y-%m-%d").is_none());
        assert!(Postgres.text_date("x", "%Y-%m-%d").is_some());
    }

    #[test]
    fn datetime_formats_compile_to_patterns() {
        let p = stamp_pattern(Some("%d/%m/%Y %H:%M"), true).unwrap();
        assert_eq!(
            p.pattern,
            "^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}) ([0-9]{1,2})\\:([0-9]{1,2})$"
        );
        assert_eq!(p.fields, vec!['d', 'm', 'Y', 'H', 'M']);
        let p = stamp_pattern(Some("%FT%T%.f"), true).unwrap();
        assert_eq!(p.fields, vec!['Y', 'm', 'd', 'H', 'M', 'S']);
        assert!(p.pattern.ends_with("(?:[.][0-9]+)?$"), "{}", p.pattern);
        assert!(stamp_pattern(Some("%Y-%m-%d %I:%M %p"), true).is_none());
        let iso = stamp_pattern(None, true).unwrap();
        assert_eq!(iso.pattern, ISO_DATETIME_RE);
        let (valid, value) = Postgres.text_datetime("x", None).unwrap();
        assert!(valid.contains("BETWEEN 0 AND 23") && valid.contains("BETWEEN 0 AND 60"));
        assert!(value.starts_with("make_timestamp("), "{value}");
        assert!(SparkSql.text_datetime("x", Some("%Y%m%d%H%M")).is_some());
        assert!(DuckDb.text_datetime("x", None).is_none());
    }
}
