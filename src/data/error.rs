//! Data errors. Each names the file, the line (1-based; the header is line 1), the column and
//! the offending value where there is one, and says what to do. They are for the trusted
//! operator: they may quote a private value, so nothing here may be written into a release.

/// Where in a source a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// A CSV line, 1-based; the header is line 1.
    Line(u64),
    /// A row of a Parquet file, 1-based, in file order.
    Row(u64),
    /// A SQL source, which has no row numbers: this many rows share the problem.
    Rows(u64),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row(n) => write!(f, "row {n}"),
            Location::Rows(1) => write!(f, "1 row"),
            Location::Rows(n) => write!(f, "{n} rows"),
        }
    }
}

/// A problem reading, encoding, decoding or writing a data file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}: cannot open: {source}. Check the path and permissions")]
    Open {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {line}: malformed CSV: {message}. Every row needs as many fields as the header, and the file must be UTF-8")]
    Malformed {
        file: String,
        line: Location,
        message: String,
    },
    #[error("{file}: the file is empty; it needs a header row naming the schema's columns")]
    Empty { file: String },
    #[error("{file}: the file has a header but no data rows; check that the export is complete")]
    NoRows { file: String },
    #[error("{file}: line 1: column {column:?} appears twice in the header; rename or remove one")]
    DuplicateHeader { file: String, column: String },
    #[error("{file}: line 1: the header lacks schema column(s) {}; add them to the file or remove them from the schema", quoted(.columns))]
    MissingColumns { file: String, columns: Vec<String> },
    #[error("{file}: line 1: column(s) {} are not in the schema; add them to the schema, remove them from the file, or set extra_columns = \"ignore\" in the schema", quoted(.columns))]
    ExtraColumns { file: String, columns: Vec<String> },
    #[error("{file}: {line}: column {column:?}: value {value:?} is not in the schema's list; add it to `values`, or declare a catch-all with `other = \"...\"`")]
    UnknownValue {
        file: String,
        line: Location,
        column: String,
        value: String,
    },
    #[error("{file}: {line}: column {column:?}: missing value {value:?}; the column's policy is missing = \"error\". Fill the cell, or set missing = \"category\" for the column")]
    MissingValue {
        file: String,
        line: Location,
        column: String,
        value: String,
    },
    #[error("{file}: {line}: column {column:?}: {value:?} is not a number; fix the cell, or list the text in missing_tokens if it means missing")]
    NotANumber {
        file: String,
        line: Location,
        column: String,
        value: String,
    },
    #[error("{file}: {line}: column {column:?}: {value:?} is not a whole number; fix the cell, or declare the column as kind = \"float\"")]
    NotAnInteger {
        file: String,
        line: Location,
        column: String,
        value: String,
    },
    #[error("{file}: {line}: column {column:?}: {value:?} is not a date in the format {format:?}; fix the cell, or set the column's `format`")]
    NotADate {
        file: String,
        line: Location,
        column: String,
        value: String,
        format: String,
    },
    #[error("{file}: {line}: column {column:?}: the privacy unit is missing; every row must name its unit (fill the cell, or remove the row from the input)")]
    MissingUnit {
        file: String,
        line: Location,
        column: String,
    },
    #[error("{file}: the privacy unit column {column:?} is not a column of the schema; declare it as kind = \"id\"")]
    NoUnitColumn { file: String, column: String },
    #[error("{file}: cannot write: {source}. Check that the folder exists and is writable")]
    Write {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not a readable Parquet file: {message}")]
    Parquet { file: String, message: String },
    #[error("{file}: column {column:?} has the Parquet type {data_type}, which dpsynth does not read; store it as text, a number, a boolean, a date or a timestamp")]
    UnsupportedType {
        file: String,
        column: String,
        data_type: String,
    },
    #[error("decoding: got {got} code columns but the schema has {expected} modelled columns")]
    WrongColumnCount { expected: usize, got: usize },
    #[error("decoding: code column {column:?} has {got} rows but the first column has {expected}")]
    RaggedColumns {
        column: String,
        expected: usize,
        got: usize,
    },
    #[error("internal error: synthetic record {row} {what}; nothing was written. This is a bug in dpsynth, not a problem with the input: please report it")]
    RuleViolation { row: usize, what: String },
    #[error("internal error: {message}")]
    Internal { message: String },
    #[error("decoding: column {column:?} row {row}: code {code} is outside 0..{cardinality}")]
    CodeOutOfRange {
        column: String,
        row: usize,
        code: u32,
        cardinality: usize,
    },
}

fn quoted(cols: &[String]) -> String {
    cols.iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl DataError {
    /// The 1-based line (CSV) or row (Parquet) the error refers to, if it refers to one.
    pub fn line(&self) -> Option<u64> {
        let at = match self {
            DataError::Malformed { line, .. }
            | DataError::UnknownValue { line, .. }
            | DataError::MissingValue { line, .. }
            | DataError::NotANumber { line, .. }
            | DataError::NotAnInteger { line, .. }
            | DataError::NotADate { line, .. }
            | DataError::MissingUnit { line, .. } => *line,
            DataError::DuplicateHeader { .. }
            | DataError::MissingColumns { .. }
            | DataError::ExtraColumns { .. } => return Some(1),
            _ => return None,
        };
        match at {
            Location::Line(n) | Location::Row(n) => Some(n),
            Location::Rows(_) => None,
        }
    }
}
