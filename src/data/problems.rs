//! Problems in a data file, grouped for the operator (issue #20 item 2): one entry per kind,
//! column and value, with how many rows have it and the first line, every distinct problem up
//! to a limit and how many more there are.
//!
//! PRIVATE: counts, line numbers and values come from the private data. They are for the
//! trusted operator's terminal, never for a release. Raw cell values are printed only when
//! the operator asks (`show_values`, the CLI's `--show-values`; issue #13 item 4): without
//! it a group names its column and says how many distinct values it holds.

use std::collections::HashMap;

use super::error::{DataError, Location};

/// Distinct problems tracked at most; rows with further distinct problems are only counted.
const MAX_GROUPS: usize = 10_000;

/// The label every grouped report ends with.
pub const PRIVATE_NOTE: &str =
    "(counts and line numbers are private, for the operator only; do not publish them)";

/// What [`ProblemReport::render`] says in place of hidden values.
const HIDDEN: &str = "values hidden; --show-values prints them, for the operator only";

/// One distinct problem: its first occurrence and how many rows have it.
#[derive(Debug)]
struct Group {
    first: DataError,
    rows: u64,
    /// Distinct values behind the group when a source counted them for us (a database
    /// asked without values); 1 otherwise.
    values: u64,
}

/// Problems found in one file, grouped by kind, column and value (in order of first
/// occurrence).
#[derive(Debug, Default)]
pub struct ProblemReport {
    groups: Vec<Group>,
    index: HashMap<(u8, String, String), usize>,
    /// Rows with a problem not tracked because [`MAX_GROUPS`] was reached.
    untracked_rows: u64,
}

/// The parts of a per-cell problem: kind, column, value (if any) and texts.
struct CellParts<'a> {
    kind: u8,
    file: &'a str,
    column: &'a str,
    value: Option<&'a str>,
    line: Location,
    /// The problem, after "value(s) ...".
    what: String,
    advice: &'static str,
}

fn cell_parts(e: &DataError) -> Option<CellParts<'_>> {
    let (kind, file, line, column, value, what, advice) = match e {
        DataError::UnknownValue {
            file,
            line,
            column,
            value,
        } => (
            0,
            file,
            line,
            column,
            Some(value),
            "not in the schema's list".to_string(),
            "add it to `values`, or declare a catch-all with `other = \"...\"`",
        ),
        DataError::MissingValue {
            file,
            line,
            column,
            value,
        } => (
            1,
            file,
            line,
            column,
            Some(value),
            "missing, and the column's policy is missing = \"error\"".to_string(),
            "fill the cells, or set missing = \"category\" for the column",
        ),
        DataError::NotANumber {
            file,
            line,
            column,
            value,
        } => (
            2,
            file,
            line,
            column,
            Some(value),
            "not a number".to_string(),
            "fix the cells, or list the text in missing_tokens if it means missing",
        ),
        DataError::NotAnInteger {
            file,
            line,
            column,
            value,
        } => (
            3,
            file,
            line,
            column,
            Some(value),
            "not a whole number".to_string(),
            "fix the cells, or declare the column as kind = \"float\"",
        ),
        DataError::NotADate {
            file,
            line,
            column,
            value,
            format,
        } => (
            4,
            file,
            line,
            column,
            Some(value),
            format!("not a date in the format {format:?}"),
            "fix the cells, or set the column's `format`",
        ),
        DataError::MissingUnit { file, line, column } => (
            5,
            file,
            line,
            column,
            None,
            "the privacy unit is missing".to_string(),
            "every row must name its unit: fill the cells, or remove the rows from the input",
        ),
        _ => return None,
    };
    Some(CellParts {
        kind,
        file,
        column,
        value: value.map(String::as_str),
        line: *line,
        what,
        advice,
    })
}

/// Where a group's first row is, after its count; a SQL source has no row order.
fn first_at(at: &Location) -> String {
    match at {
        Location::Rows(_) => String::new(),
        at => format!(", first at {at}"),
    }
}

/// A count with thousands separators: 2441 -> "2,441".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rows(n: u64) -> String {
    format!("{} row{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// One problem as a message: file, line and column always; the raw value only with
/// `show_values` (the message says when it is hidden).
pub fn describe(e: &DataError, show_values: bool) -> String {
    match cell_parts(e) {
        Some(p) if !show_values && p.value.is_some() => format!(
            "{}: {}: column {:?}: the value is {} (value hidden; --show-values prints it, for the operator only); {}",
            p.file, p.line, p.column, p.what, p.advice
        ),
        _ => e.to_string(),
    }
}

/// A listed entry of [`ProblemReport::render`].
enum Entry {
    Text(String),
    /// Values of one kind in one column, merged: (group of the first, distinct values, rows).
    Merged(usize, u64, u64),
}

impl ProblemReport {
    /// Adds one problem.
    pub fn add(&mut self, e: DataError) {
        self.add_counted(e, 1);
    }

    /// Adds one problem standing for `distinct_values` values (a database source that
    /// counted them without reading them); its rows come from its `Location::Rows`.
    pub fn add_counted(&mut self, e: DataError, distinct_values: u64) {
        let key = match (cell_parts(&e), &e) {
            (Some(p), _) => (
                p.kind,
                p.column.to_string(),
                p.value.unwrap_or("").to_string(),
            ),
            (None, DataError::Malformed { message, .. }) => (10, String::new(), message.clone()),
            (None, other) => (11, String::new(), other.to_string()),
        };
        // A SQL source reports one problem for all the rows that share it.
        let n = match cell_parts(&e).map(|p| p.line) {
            Some(Location::Rows(n)) => n,
            _ => 1,
        };
        if let Some(&i) = self.index.get(&key) {
            self.groups[i].rows += n;
        } else if self.groups.len() < MAX_GROUPS {
            self.index.insert(key, self.groups.len());
            self.groups.push(Group {
                first: e,
                rows: n,
                values: distinct_values,
            });
        } else {
            self.untracked_rows += n;
        }
    }

    /// No problem found.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.untracked_rows == 0
    }

    /// Distinct problems found (at least; see [`MAX_GROUPS`]).
    pub fn distinct(&self) -> usize {
        self.groups.len()
    }

    /// Problem rows (cells) in all.
    pub fn total_rows(&self) -> u64 {
        self.groups.iter().map(|g| g.rows).sum::<u64>() + self.untracked_rows
    }

    /// One line per listed problem, at most `limit` of them, then how many more there are,
    /// then [`PRIVATE_NOTE`]; and the number of problems (listed or not). With
    /// `show_values`, each (kind, column, value) is its own problem; without, values of one
    /// kind in one column are one problem whose line counts them.
    pub fn render(&self, show_values: bool, limit: usize) -> (Vec<String>, usize) {
        let mut entries: Vec<Entry> = Vec::new();
        let mut merged: HashMap<(u8, &str), usize> = HashMap::new();
        for (gi, g) in self.groups.iter().enumerate() {
            match cell_parts(&g.first) {
                Some(p) if !show_values && p.value.is_some() => {
                    match merged.get(&(p.kind, p.column)) {
                        Some(&ei) => {
                            if let Entry::Merged(_, values, n) = &mut entries[ei] {
                                *values += g.values;
                                *n += g.rows;
                            }
                        }
                        None => {
                            merged.insert((p.kind, p.column), entries.len());
                            entries.push(Entry::Merged(gi, g.values, g.rows));
                        }
                    }
                }
                Some(p) => {
                    let value = match p.value {
                        Some(v) => format!("value {v:?} is "),
                        None => String::new(),
                    };
                    entries.push(Entry::Text(format!(
                        "{}: column {:?}: {value}{}: {}{}; {}",
                        p.file,
                        p.column,
                        p.what,
                        rows(g.rows),
                        first_at(&p.line),
                        p.advice
                    )));
                }
                None if g.rows > 1 => entries.push(Entry::Text(format!(
                    "{} ({} with this problem in all)",
                    g.first,
                    rows(g.rows)
                ))),
                None => entries.push(Entry::Text(g.first.to_string())),
            }
        }
        let entries: Vec<String> = entries
            .into_iter()
            .map(|e| match e {
                Entry::Text(t) => t,
                Entry::Merged(gi, values, n) => match cell_parts(&self.groups[gi].first) {
                    Some(p) => format!(
                        "{}: column {:?}: {} {} {}: {}{} ({HIDDEN}); {}",
                        p.file,
                        p.column,
                        thousands(values),
                        if values == 1 {
                            "distinct value is"
                        } else {
                            "distinct values are"
                        },
                        p.what,
                        rows(n),
                        first_at(&p.line),
                        p.advice
                    ),
                    None => self.groups[gi].first.to_string(),
                },
            })
            .collect();
        let shown = entries.len().min(limit.max(1));
        let mut out: Vec<String> = entries[..shown].to_vec();
        let more = entries.len() - shown;
        if more > 0 {
            out.push(format!(
                "... and {more} more distinct problem{} not listed (--max-problems lists more)",
                if more == 1 { "" } else { "s" }
            ));
        }
        if self.untracked_rows > 0 {
            out.push(format!(
                "... and {} with further distinct problems (more than {MAX_GROUPS} kinds; fix these first)",
                rows(self.untracked_rows)
            ));
        }
        if !out.is_empty() {
            out.push(PRIVATE_NOTE.to_string());
        }
        (out, entries.len())
    }
}
