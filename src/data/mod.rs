//! Private data: streaming CSV reading, encoding into column-major codes, decoding back.
//!
//! Reading ([`read_csv`]) turns a CSV file into an [`EncodedTable`] using only the public
//! [`Schema`](crate::schema::Schema): the codes a cell may take come from the schema, never
//! from the data. Writing ([`write_csv`]) is post-processing: it decodes synthetic codes into
//! values with a seeded generator. Parquet files are read and written alike
//! ([`read_table_with`] picks the reader; [`write_parquet`]). Arrow record batches go both ways
//! too ([`read_arrow_with`], [`synthetic_batch`]): how the Python package's DataFrames cross.

mod arrow;
mod decode;
mod density;
mod encoded;
mod error;
mod parquet;
mod problems;
mod read;
mod truncate;
mod write;

pub use arrow::{draft_from_arrow, read_arrow_with, synthetic_batch};
pub use decode::{decode_rng, Decoder, DECODE_STREAM};
pub use density::Density;
pub use encoded::{Codes, EncodedTable};
pub use error::{DataError, Location};
pub use problems::{describe, ProblemReport, PRIVATE_NOTE};
pub use read::{
    check_csv, check_csv_grouped, check_csv_with, check_header, read_csv, read_csv_from,
    read_csv_with, ColumnReport, EncodeReport, ReadOptions, RuleReport,
};
pub use truncate::{
    truncate_units, RepeatDetector, TruncateError, UnitIds, UnitInterner, UnitProfile,
};
pub use write::{
    write_atomically, write_csv, write_csv_to, write_decoded, write_decoded_to, CsvChunkWriter,
};

pub use self::parquet::{
    check_parquet_grouped, check_parquet_with, is_parquet, parquet_rows, read_parquet_with,
    write_parquet, write_parquet_decoded,
};

use std::path::Path;

use crate::schema::Schema;

/// Reads and encodes a data file, CSV or Parquet ([`is_parquet`]: by extension or magic
/// bytes), with the same schema rules and errors either way.
pub fn read_table_with(
    path: &Path,
    schema: &Schema,
    opts: &ReadOptions,
) -> Result<(EncodedTable, EncodeReport), DataError> {
    if is_parquet(path) {
        read_parquet_with(path, schema, opts)
    } else {
        read_csv_with(path, schema, opts)
    }
}

/// [`read_table_with`] with the default options.
pub fn read_table(path: &Path, schema: &Schema) -> Result<(EncodedTable, EncodeReport), DataError> {
    read_table_with(path, schema, &ReadOptions::default())
}

/// Checks a CSV or Parquet file against the schema (see [`check_csv_with`]).
pub fn check_table_with(path: &Path, schema: &Schema, opts: &ReadOptions) -> Vec<DataError> {
    if is_parquet(path) {
        check_parquet_with(path, schema, opts)
    } else {
        check_csv_with(path, schema, opts)
    }
}

/// Checks a whole CSV or Parquet file, grouping its problems (see [`check_csv_grouped`]).
pub fn check_table_grouped(path: &Path, schema: &Schema, opts: &ReadOptions) -> ProblemReport {
    if is_parquet(path) {
        check_parquet_grouped(path, schema, opts)
    } else {
        check_csv_grouped(path, schema, opts)
    }
}

#[cfg(test)]
mod tests;
