//! Evaluation from files: both (CSV or Parquet) encoded with the same public schema.

use std::path::Path;

use crate::data::{read_table, DataError, EncodedTable};
use crate::marginal::Domain;
use crate::schema::{ColumnKind, Schema};

/// Real and synthetic tables encoded alike, with what the report needs from the schema.
pub struct EvalInputs {
    pub real: EncodedTable,
    pub synthetic: EncodedTable,
    pub domain: Domain,
    /// Per modelled column, a label per code.
    pub labels: Vec<Vec<String>>,
    /// Per modelled column: ordered numeric bins (integer, float, date).
    pub numeric: Vec<bool>,
}

/// Reads both files (CSV or Parquet) with `schema`. The real table is private: its report is internal.
pub fn load_pair(real: &Path, synthetic: &Path, schema: &Schema) -> Result<EvalInputs, DataError> {
    let (real, _) = read_table(real, schema)?;
    let (synthetic, _) = read_table(synthetic, schema)?;
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    let labels = schema.modelled().iter().map(|c| c.code_labels()).collect();
    let numeric = schema
        .modelled()
        .iter()
        .map(|c| {
            matches!(
                c.kind(),
                ColumnKind::Integer(_) | ColumnKind::Float(_) | ColumnKind::Date(_)
            )
        })
        .collect();
    Ok(EvalInputs {
        real,
        synthetic,
        domain,
        labels,
        numeric,
    })
}
