//! Private data: streaming CSV reading, encoding into column-major codes, decoding back.
//!
//! Reading ([`read_csv`]) turns a CSV file into an [`EncodedTable`] using only the public
//! [`Schema`](crate::schema::Schema): the codes a cell may take come from the schema, never
//! from the data. Writing ([`write_csv`]) is post-processing: it decodes synthetic codes into
//! values with a seeded generator. Arrow record batches go both ways too ([`read_arrow_with`],
//! [`synthetic_batch`]): how the Python package's DataFrames cross.

mod arrow;
mod decode;
mod density;
mod encoded;
mod error;
mod problems;
mod read;
mod truncate;
mod write;

pub use arrow::{draft_from_arrow, read_arrow_with, synthetic_batch};
pub use decode::{decode_rng, Decoder, DECODE_STREAM};
pub use density::Density;
pub use encoded::{Codes, EncodedTable};
pub use error::DataError;
pub use problems::{describe, ProblemReport, PRIVATE_NOTE};
pub use read::{
    check_csv, check_csv_grouped, check_csv_with, read_csv, read_csv_from, read_csv_with,
    ColumnReport, EncodeReport, ReadOptions,
};
pub use truncate::{
    truncate_units, RepeatDetector, TruncateError, UnitIds, UnitInterner, UnitProfile,
};
pub use write::{write_csv, write_csv_to, write_decoded, write_decoded_to};

#[cfg(test)]
mod tests;
