//! Decoding codes back into a CSV file: post-processing of synthetic codes, seeded so a
//! release can be re-decoded exactly.

use std::io::Write;
use std::path::Path;

use crate::schema::{ColumnKind, Schema};

use super::decode::{decode_rng, Decoder};
use super::error::DataError;

/// Decodes column-major codes (one vector per modelled column, in [`Schema::modelled`]
/// order) and writes them as CSV to `path`, atomically: through a temporary file in the same
/// folder, renamed into place only when complete. Columns are written in schema order (`skip`
/// columns are not written); categorical codes become their value, numeric and date codes a
/// value drawn uniformly within the bin and inside the schema's rules (seeded with `seed`,
/// [`decode_rng`]), missing codes the column's first missing token (an empty cell by
/// default), and `id` columns fresh sequential ids (`{prefix}SYN-{n}`, see [`synthetic_id`]).
/// The row count is the length of the code vectors (0 if the schema has no modelled columns).
/// Releases decode with a model's within-bin densities through [`write_decoded`].
pub fn write_csv(
    path: &Path,
    schema: &Schema,
    columns: &[Vec<u32>],
    seed: u64,
) -> Result<(), DataError> {
    write_decoded(path, &Decoder::uniform(schema)?, columns, seed)
}

/// [`write_csv`] through a given decoder (e.g. one with a model's within-bin densities).
pub fn write_decoded(
    path: &Path,
    decoder: &Decoder,
    columns: &[Vec<u32>],
    seed: u64,
) -> Result<(), DataError> {
    let schema = decoder.schema();
    let file = path.display().to_string();
    validate(schema, columns)?;
    write_atomically(path, ".csv.tmp", |f| {
        write_decoded_to(std::io::BufWriter::new(f), &file, decoder, columns, seed)
    })
}

/// Writes `path` atomically: `body` fills a temporary file beside it (named with `suffix`),
/// which is synced and renamed into place only when `body` succeeds, so a failure never
/// leaves a partial file. Shared by the CSV and Parquet writers.
pub(super) fn write_atomically(
    path: &Path,
    suffix: &str,
    body: impl FnOnce(&mut std::fs::File) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let werr = |e: std::io::Error| DataError::Write {
        file: path.display().to_string(),
        source: e,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".dpsynth-")
        .suffix(suffix)
        .tempfile_in(&dir)
        .map_err(werr)?;
    body(tmp.as_file_mut())?;
    tmp.as_file().sync_all().map_err(werr)?;
    tmp.persist(path).map_err(|e| werr(e.error))?;
    Ok(())
}

/// [`write_csv`] to any writer (not atomic); `sink_name` names it in messages.
pub fn write_csv_to<W: Write>(
    writer: W,
    sink_name: &str,
    schema: &Schema,
    columns: &[Vec<u32>],
    seed: u64,
) -> Result<(), DataError> {
    write_decoded_to(writer, sink_name, &Decoder::uniform(schema)?, columns, seed)
}

/// [`write_decoded`] to any writer (not atomic). Every record is decoded and checked against
/// the rules before it is written; a record that breaks one stops the writing with an
/// internal error.
pub fn write_decoded_to<W: Write>(
    writer: W,
    sink_name: &str,
    decoder: &Decoder,
    columns: &[Vec<u32>],
    seed: u64,
) -> Result<(), DataError> {
    let werr = |e: csv::Error| DataError::Write {
        file: sink_name.to_string(),
        source: match e.into_kind() {
            csv::ErrorKind::Io(io) => io,
            other => std::io::Error::other(format!("{other:?}")),
        },
    };
    let mut rows = decoded_rows(decoder, columns, seed)?;
    let mut w = csv::WriterBuilder::new().from_writer(writer);
    w.write_record(written_names(decoder.schema()))
        .map_err(werr)?;
    while let Some(row) = rows.next_row()? {
        w.write_record(row).map_err(werr)?;
    }
    w.flush().map_err(|e| DataError::Write {
        file: sink_name.to_string(),
        source: e,
    })?;
    Ok(())
}

/// The names of the columns a release writes, in schema order (`skip` columns are not).
pub(crate) fn written_names(schema: &Schema) -> Vec<&str> {
    schema
        .columns()
        .iter()
        .filter(|c| c.is_written())
        .map(|c| c.name())
        .collect()
}

/// Decoded synthetic rows, one at a time: what every output format writes, so a CSV and a
/// Parquet file of the same codes, decoder and seed hold the same values.
pub(crate) struct DecodedRows<'a> {
    decoder: &'a Decoder,
    columns: &'a [Vec<u32>],
    rng: rand_chacha::ChaCha20Rng,
    next: usize,
    n_rows: usize,
    codes: Vec<u32>,
    row: Vec<String>,
}

/// Validates the codes, then decodes them row by row (see [`write_csv`]).
pub(crate) fn decoded_rows<'a>(
    decoder: &'a Decoder,
    columns: &'a [Vec<u32>],
    seed: u64,
) -> Result<DecodedRows<'a>, DataError> {
    let schema = decoder.schema();
    validate(schema, columns)?;
    Ok(DecodedRows {
        decoder,
        columns,
        rng: decode_rng(seed),
        next: 0,
        n_rows: columns.first().map_or(0, Vec::len),
        codes: vec![0u32; columns.len()],
        row: Vec::with_capacity(schema.columns().len()),
    })
}

impl DecodedRows<'_> {
    /// The next row's written cells in schema order, or `None` after the last row; an
    /// internal error if a decoded record breaks a rule.
    pub(crate) fn next_row(&mut self) -> Result<Option<&[String]>, DataError> {
        if self.next >= self.n_rows {
            return Ok(None);
        }
        let r = self.next;
        self.next += 1;
        for (c, col) in self.codes.iter_mut().zip(self.columns) {
            *c = col[r];
        }
        let mut values = self
            .decoder
            .decode_record(r, &self.codes, &mut self.rng)?
            .into_iter();
        self.row.clear();
        for col in self.decoder.schema().columns() {
            match col.kind() {
                ColumnKind::Id { prefix } => self.row.push(synthetic_id(prefix.as_deref(), r)),
                ColumnKind::Skip => {}
                _ => self.row.push(values.next().unwrap_or_default()),
            }
        }
        Ok(Some(&self.row))
    }
}

pub(super) fn validate(schema: &Schema, columns: &[Vec<u32>]) -> Result<(), DataError> {
    let modelled = schema.modelled();
    if columns.len() != modelled.len() {
        return Err(DataError::WrongColumnCount {
            expected: modelled.len(),
            got: columns.len(),
        });
    }
    let n = columns.first().map_or(0, Vec::len);
    for (col, codes) in modelled.iter().zip(columns) {
        if codes.len() != n {
            return Err(DataError::RaggedColumns {
                column: col.name().to_string(),
                expected: n,
                got: codes.len(),
            });
        }
        let card = col.cardinality();
        if let Some((row, &code)) = codes.iter().enumerate().find(|(_, &c)| c as usize >= card) {
            return Err(DataError::CodeOutOfRange {
                column: col.name().to_string(),
                row,
                code,
                cardinality: card,
            });
        }
    }
    Ok(())
}

/// The id of synthetic row `r`: the column's prefix, then `SYN-` and a sequence number, so
/// that no generated id can be mistaken for (or collide with) a real record's id.
pub fn synthetic_id(prefix: Option<&str>, r: usize) -> String {
    format!("{}SYN-{}", prefix.unwrap_or(""), r + 1)
}
