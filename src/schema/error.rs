//! Schema problems. Validation collects every problem it finds so the operator can fix a
//! schema in one pass rather than one error per run.

use std::fmt;

/// One thing wrong with a schema. Each message names the column it concerns (by name, or by
/// position when the name itself is missing) and says what to do about it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SchemaProblem {
    #[error("cannot read the schema: {0}")]
    Io(String),
    #[error("not valid {format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    #[error("{at}: {message}")]
    Structure { at: String, message: String },
    #[error("the schema has no columns; add at least one [[columns]] table")]
    NoColumns,
    #[error("column {column:?}: unknown kind {kind:?}; use one of categorical, integer, float, date, datetime, id, skip")]
    UnknownKind { column: String, kind: String },
    #[error("column {column:?}: unknown field {field:?} for a {kind} column; remove it or check its spelling")]
    UnknownField {
        column: String,
        field: String,
        kind: String,
    },
    #[error("column {column:?}: missing required field {field:?} ({why})")]
    MissingField {
        column: String,
        field: &'static str,
        why: &'static str,
    },
    #[error("column {column:?}: {field} must be {expected}")]
    WrongType {
        column: String,
        field: String,
        expected: &'static str,
    },
    #[error("column {column:?}: empty value list; list every possible value in `values = [...]`")]
    EmptyValues { column: String },
    #[error("column {column:?}: duplicate column name (first declared as column {first})")]
    DuplicateColumn { column: String, first: usize },
    #[error("column {column:?}: value {value:?} is declared more than once")]
    DuplicateValue { column: String, value: String },
    #[error("column {column:?}: `labels` has {labels} entries but `values` has {values}; give one label per value")]
    LabelCount {
        column: String,
        labels: usize,
        values: usize,
    },
    #[error(
        "column {column:?}: missing token {token:?} is also a value of the column (listed, or a number or date inside the bounds); a cell cannot be both"
    )]
    TokenIsValue { column: String, token: String },
    #[error("column {column:?}: reversed bounds: min {min} is greater than max {max}")]
    ReversedBounds {
        column: String,
        min: String,
        max: String,
    },
    #[error("column {column:?}: bin edge {edge} lies outside the bounds [{min}, {max}]")]
    EdgeOutsideBounds {
        column: String,
        edge: String,
        min: String,
        max: String,
    },
    #[error("column {column:?}: bin edges must increase strictly, but edge {index} ({edge}) does not exceed the one before it")]
    NonIncreasingEdges {
        column: String,
        index: usize,
        edge: String,
    },
    #[error("column {column:?}: {message}")]
    BadBins { column: String, message: String },
    #[error("column {column:?}: {message}")]
    BadDate { column: String, message: String },
    #[error("column {column:?}: {message}")]
    BadMissing { column: String, message: String },
    #[error("column {column:?}: the column has {codes} codes, more than the limit of {limit}; use wider bins or fewer values")]
    TooManyCodes {
        column: String,
        codes: usize,
        limit: usize,
    },
    #[error("{field}: {message}")]
    BadSetting { field: String, message: String },
    #[error("rule {rule}: {message}")]
    BadRule { rule: String, message: String },
    #[error(
        "the schema is a draft (`draft = true`): it was inferred from private data. Replace value \
         lists, bounds and bins with public knowledge, then delete the draft marker; a release \
         run refuses a draft"
    )]
    Draft,
}

/// Every problem found in one schema file. `Display` prints one problem per line, each
/// prefixed with the file it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaError {
    /// The file (or other source name) the schema was read from.
    pub source_name: String,
    /// All problems, in the order found; never empty.
    pub problems: Vec<SchemaProblem>,
}

impl SchemaError {
    pub(crate) fn new(source_name: &str, problems: Vec<SchemaProblem>) -> Self {
        SchemaError {
            source_name: source_name.to_string(),
            problems,
        }
    }

    /// True if the only problem is the draft marker (the schema is otherwise well formed).
    pub fn is_only_draft(&self) -> bool {
        self.problems.iter().all(|p| *p == SchemaProblem::Draft)
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}", self.source_name, p)?;
        }
        Ok(())
    }
}

impl std::error::Error for SchemaError {}
