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
    let werr = |e: std::io::Error| DataError::Write {
        file: file.clone(),
        source: e,
    };
    validate(schema, columns)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".dpsynth-")
        .suffix(".csv.tmp")
        .tempfile_in(&dir)
        .map_err(werr)?;
    {
        let buf = std::io::BufWriter::new(tmp.as_file_mut());
        write_decoded_to(buf, &file, decoder, columns, seed)?;
    }
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
    let schema = decoder.schema();
    validate(schema, columns)?;
    let werr = |e: csv::Error| DataError::Write {
        file: sink_name.to_string(),
        source: match e.into_kind() {
            csv::ErrorKind::Io(io) => io,
            other => std::io::Error::other(format!("{other:?}")),
        },
    };
    let mut rng = decode_rng(seed);
    let mut w = csv::WriterBuilder::new().from_writer(writer);
    w.write_record(
        schema
            .columns()
            .iter()
            .filter(|c| c.is_written())
            .map(|c| c.name()),
    )
    .map_err(werr)?;
    let n_rows = columns.first().map_or(0, Vec::len);
    let mut row: Vec<String> = Vec::with_capacity(schema.columns().len());
    let mut codes = vec![0u32; columns.len()];
    for r in 0..n_rows {
        for (c, col) in codes.iter_mut().zip(columns) {
            *c = col[r];
        }
        let mut values = decoder.decode_record(r, &codes, &mut rng)?.into_iter();
        row.clear();
        for col in schema.columns() {
            match col.kind() {
                ColumnKind::Id { prefix } => row.push(synthetic_id(prefix.as_deref(), r)),
                ColumnKind::Skip => {}
                _ => row.push(values.next().unwrap_or_default()),
            }
        }
        w.write_record(&row).map_err(werr)?;
    }
    w.flush().map_err(|e| DataError::Write {
        file: sink_name.to_string(),
        source: e,
    })?;
    Ok(())
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
