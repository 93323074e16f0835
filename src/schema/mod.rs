//! The public schema: column kinds, value lists, bounds, bins and the missing-value policy.
//!
//! The schema is what the user asserts to be public knowledge (DESIGN.md section 3). Every
//! code a column can take follows from the schema alone, never from the data, so the domain
//! the mechanisms see leaks nothing. The one exception, [`draft_from_csv`], reads the data
//! for convenience and marks its output `draft = true`, which a release run refuses
//! ([`Schema::from_path_for_release`]).
//!
//! Formats: TOML (the native format), the same structure in JSON, and the benchmark
//! `*-domain.json` files (`{"col": n_codes, ...}`), which load as integer-coded categorical
//! columns with values `"0"..="n-1"`. See `docs/schema.md`.

mod column;
mod draft;
mod emit;
mod error;
mod parse;
pub mod rules;
pub mod value;

use std::path::Path;

pub(crate) use column::uniform_in;
pub use column::{
    AutoBins, BinScale, Bins, Categorical, Cell, CellError, CodeValue, Column, ColumnKind,
    DateBins, DateTimeBins, DateUnit, Key, MissingPolicy, DEFAULT_AUTO_GRID, DEFAULT_AUTO_MAX_BINS,
    DEFAULT_DATETIME_FORMAT, DEFAULT_DATE_FORMAT, MAX_CODES,
};
pub use draft::{draft_from_csv, draft_from_reader, DraftError};
pub use error::{SchemaError, SchemaProblem};

/// What to do with CSV columns the schema does not name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtraColumns {
    /// An input error naming them (the default: an unexpected column is usually a mistake,
    /// e.g. the wrong file or a renamed column).
    Error,
    /// Skip them: they are neither modelled nor written on output.
    Ignore,
}

/// A validated public schema.
#[derive(Clone, Debug)]
pub struct Schema {
    pub(crate) columns: Vec<Column>,
    pub(crate) draft: bool,
    pub(crate) default_missing_tokens: Vec<String>,
    pub(crate) extra_columns: ExtraColumns,
    pub(crate) description: Option<String>,
    /// The declared privacy unit: an `id` column and the most rows per value to use.
    pub(crate) privacy_unit: Option<(String, u32)>,
    /// Public rules every record obeys.
    pub(crate) rules: Vec<rules::Rule>,
    /// Where the schema came from (for messages); not part of equality.
    pub(crate) source_name: String,
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.columns == other.columns
            && self.draft == other.draft
            && self.default_missing_tokens == other.default_missing_tokens
            && self.extra_columns == other.extra_columns
            && self.description == other.description
            && self.privacy_unit == other.privacy_unit
            && self.rules == other.rules
    }
}

impl Schema {
    /// Loads and validates a schema file: TOML, JSON (by `.json` extension or content
    /// starting with `{`), or a benchmark `*-domain.json`. A draft loads (so `schema check`
    /// can inspect it); use [`Schema::from_path_for_release`] where a draft must be refused.
    pub fn from_path(path: &Path) -> Result<Schema, SchemaError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SchemaError::new(&name, vec![SchemaProblem::Io(e.to_string())]))?;
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => parse::Format::Json,
            Some(e) if e.eq_ignore_ascii_case("toml") => parse::Format::Toml,
            _ => parse::Format::Auto,
        };
        Self::from_text(&text, &name, format)
    }

    /// Like [`Schema::from_path`], but a draft marker is one more problem: what a release run
    /// uses, and what `schema check` reports.
    pub fn from_path_for_release(path: &Path) -> Result<Schema, SchemaError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SchemaError::new(&name, vec![SchemaProblem::Io(e.to_string())]))?;
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => parse::Format::Json,
            Some(e) if e.eq_ignore_ascii_case("toml") => parse::Format::Toml,
            _ => parse::Format::Auto,
        };
        let parse::Parsed {
            schema,
            mut problems,
            draft,
        } = parse::parse(&text, format);
        if draft {
            problems.push(SchemaProblem::Draft);
        }
        match schema {
            Some(mut s) if problems.is_empty() => {
                s.source_name = name;
                Ok(s)
            }
            _ => Err(SchemaError::new(&name, problems)),
        }
    }

    /// Parses TOML text (`source_name` is used in messages).
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Schema, SchemaError> {
        Self::from_text(text, source_name, parse::Format::Toml)
    }

    /// Parses JSON text: the schema structure, or a benchmark domain file.
    pub fn from_json_str(text: &str, source_name: &str) -> Result<Schema, SchemaError> {
        Self::from_text(text, source_name, parse::Format::Json)
    }

    /// Parses TOML or JSON, telling them apart by content.
    pub fn from_str_auto(text: &str, source_name: &str) -> Result<Schema, SchemaError> {
        Self::from_text(text, source_name, parse::Format::Auto)
    }

    fn from_text(text: &str, name: &str, format: parse::Format) -> Result<Schema, SchemaError> {
        let parse::Parsed {
            schema, problems, ..
        } = parse::parse(text, format);
        match schema {
            Some(mut s) if problems.is_empty() => {
                s.source_name = name.to_string();
                Ok(s)
            }
            _ => Err(SchemaError::new(name, problems)),
        }
    }

    /// Refuses a draft: the check a release run makes on an already loaded schema.
    pub fn require_release_ready(&self) -> Result<(), SchemaError> {
        if self.draft {
            Err(SchemaError::new(
                &self.source_name,
                vec![SchemaProblem::Draft],
            ))
        } else {
            Ok(())
        }
    }

    /// All columns, in schema order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The column with this name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The schema's rules, in order.
    pub fn rules(&self) -> &[rules::Rule] {
        &self.rules
    }

    /// The rules resolved against the columns (validated when the schema was loaded).
    pub fn compiled_rules(&self) -> Result<rules::CompiledRules, SchemaError> {
        rules::CompiledRules::new(self).map_err(|p| SchemaError::new(&self.source_name, p))
    }

    /// The modelled columns (every kind except `id` and `skip`), in schema order. Code vectors passed
    /// to and from the data layer follow this order.
    pub fn modelled(&self) -> Vec<&Column> {
        self.columns.iter().filter(|c| c.is_modelled()).collect()
    }

    /// Names of the modelled columns, in order (with [`Schema::modelled_cardinalities`]: what
    /// `marginal::Domain::new` takes).
    pub fn modelled_names(&self) -> Vec<String> {
        self.modelled().iter().map(|c| c.name.clone()).collect()
    }

    /// Number of codes of each modelled column, in order.
    pub fn modelled_cardinalities(&self) -> Vec<usize> {
        self.modelled().iter().map(|c| c.cardinality()).collect()
    }

    /// Whether the schema carries the draft marker (inferred from private data).
    pub fn is_draft(&self) -> bool {
        self.draft
    }

    /// Policy for CSV columns the schema does not name.
    pub fn extra_columns(&self) -> ExtraColumns {
        self.extra_columns
    }

    /// The schema's own description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The declared privacy unit (top-level `privacy_unit` and `max_rows_per_unit`): the
    /// `id` column whose values name a unit, and the most rows per unit a release uses.
    /// `None`: the unit is one record (unless the command line names one).
    pub fn privacy_unit(&self) -> Option<(&str, u32)> {
        self.privacy_unit.as_ref().map(|(c, k)| (c.as_str(), *k))
    }

    /// The schema with the bins of modelled column `attr` merged: bin `k` of the result covers
    /// the bins `runs[k]` of this one, which must be contiguous, in order, and cover every bin
    /// (None otherwise, or if the column has no numeric bins). This is how a `bins = "auto"`
    /// column decodes once MST or AIM has merged its fine grid from noisy counts.
    pub fn with_merged_bins(&self, attr: usize, runs: &[Vec<u32>]) -> Option<Schema> {
        let pos = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_modelled())
            .nth(attr)?
            .0;
        let mut out = self.clone();
        let b = match &mut out.columns[pos].kind {
            ColumnKind::Integer(b) | ColumnKind::Float(b) => b,
            _ => return None,
        };
        let mut next = 0u32;
        let mut edges = Vec::with_capacity(runs.len() + 1);
        for r in runs {
            let first = *r.first()?;
            if first != next || r.windows(2).any(|w| w[1] != w[0] + 1) {
                return None;
            }
            edges.push(b.edges[first as usize]);
            next = *r.last()? + 1;
        }
        if next as usize != b.n_bins() {
            return None;
        }
        edges.push(b.edges[b.n_bins()]);
        b.given_edges = Some(edges[1..edges.len() - 1].to_vec());
        b.edges = edges;
        b.width = None;
        b.count = None;
        b.auto = None;
        Some(out)
    }

    /// The file or name the schema was read from.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The schema as TOML, e.g. for embedding in a certificate or model. Parsing the result
    /// gives back an equal schema.
    pub fn to_toml_string(&self) -> String {
        emit::to_toml(self)
    }
}

#[cfg(test)]
mod tests;
