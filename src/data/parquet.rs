//! Parquet input and output.
//!
//! Reading streams the file batch by batch (a row group at a time at most) through the same
//! [`Encoder`](super::read) as CSV, so the schema rules and the errors (file, row, column,
//! value) are the CSV reader's. Only the columns the schema names are decoded. Typed cells are
//! turned into the text the CSV reader would see: numbers in their shortest exact form (`39`,
//! `0.1`), booleans `true`/`false`, dates in the schema column's `format` (so a date column
//! reads a Parquet `DATE` whatever its text format), timestamps as their date for date
//! columns; a null is a missing value whatever the column's tokens.
//!
//! Writing ([`write_parquet`]) decodes synthetic codes exactly as [`write_csv`](super::write_csv)
//! does (same seed, same values) and stores every column as text, so a Parquet release and a
//! CSV release of one model hold the same values.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type,
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::schema::{ColumnKind, Schema};

use super::decode::Decoder;
use super::encoded::EncodedTable;
use super::error::{DataError, Location};
use super::problems::ProblemReport;
use super::read::{EncodeReport, Encoder, Mode, ReadOptions};
use super::write::{decoded_rows, written_names};

/// Rows decoded at a time: bounded memory whatever the file's row-group size.
const BATCH_ROWS: usize = 8192;

/// Whether `path` holds Parquet: its name ends in `.parquet`/`.parq`, or its first bytes
/// are Parquet's magic `PAR1`.
pub fn is_parquet(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    if matches!(ext.as_deref(), Some("parquet" | "parq")) {
        return true;
    }
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|_| &magic == b"PAR1")
        .unwrap_or(false)
}

/// Reads and encodes a Parquet file: the Parquet counterpart of
/// [`read_csv_with`](super::read_csv_with), with the same table, report and errors.
pub fn read_parquet_with(
    path: &Path,
    schema: &Schema,
    opts: &ReadOptions,
) -> Result<(EncodedTable, EncodeReport), DataError> {
    let mut errors = Vec::new();
    let out = run(path, schema, opts, Mode::Encode, &mut errors, None);
    match (out, errors.into_iter().next()) {
        (_, Some(e)) => Err(e),
        (Some(t), None) => Ok(t),
        (None, None) => Err(DataError::Empty {
            file: path.display().to_string(),
        }),
    }
}

/// Checks a Parquet file against the schema without keeping it: the counterpart of
/// [`check_csv_with`](super::check_csv_with).
pub fn check_parquet_with(path: &Path, schema: &Schema, opts: &ReadOptions) -> Vec<DataError> {
    let mut errors = Vec::new();
    run(path, schema, opts, Mode::Check, &mut errors, None);
    errors
}

/// Checks a whole Parquet file, grouping its problems: the counterpart of
/// [`check_csv_grouped`](super::check_csv_grouped) (PRIVATE: for the operator only).
pub fn check_parquet_grouped(path: &Path, schema: &Schema, opts: &ReadOptions) -> ProblemReport {
    let mut report = ProblemReport::default();
    let mut errors = Vec::new();
    run(
        path,
        schema,
        opts,
        Mode::Group,
        &mut errors,
        Some(&mut report),
    );
    errors.into_iter().for_each(|e| report.add(e));
    report
}

fn run(
    path: &Path,
    schema: &Schema,
    opts: &ReadOptions,
    mode: Mode,
    errors: &mut Vec<DataError>,
    groups: Option<&mut ProblemReport>,
) -> Option<(EncodedTable, EncodeReport)> {
    let file = path.display().to_string();
    let bad = |e: &dyn std::fmt::Display| DataError::Parquet {
        file: file.clone(),
        message: e.to_string(),
    };
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            errors.push(DataError::Open {
                file: file.clone(),
                source: e,
            });
            return None;
        }
    };
    let builder = match ParquetRecordBatchReaderBuilder::try_new(f) {
        Ok(b) => b,
        Err(e) => {
            errors.push(bad(&e));
            return None;
        }
    };
    let fields: Vec<Arc<Field>> = builder.schema().fields().iter().cloned().collect();
    let header: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
    let mask_schema = builder.parquet_schema().clone();
    let mut enc = Encoder::new(&file, schema, opts, mode, &header, errors)?.grouping(groups);

    // Decode only the columns the encoder reads; refuse types it cannot turn into text.
    let needed = enc.needed_positions();
    for &p in &needed {
        if !readable(fields[p].data_type()) {
            enc.errors.push(DataError::UnsupportedType {
                file: file.clone(),
                column: fields[p].name().clone(),
                data_type: fields[p].data_type().to_string(),
            });
            return None;
        }
    }
    let temporal: Vec<Option<Temporal>> = enc
        .column_at(fields.len())
        .into_iter()
        .map(|c| match c.map(|c| c.kind()) {
            Some(ColumnKind::Date(d)) => Some(Temporal::Date(d.format().to_string())),
            Some(ColumnKind::DateTime(d)) => Some(Temporal::DateTime(
                d.format().unwrap_or(DATETIME_TEXT).to_string(),
            )),
            _ => None,
        })
        .collect();
    let reader = match builder
        .with_projection(ProjectionMask::roots(&mask_schema, needed.iter().copied()))
        .with_batch_size(BATCH_ROWS)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            enc.errors.push(bad(&e));
            return None;
        }
    };
    // Source position -> column of the projected batch (projection keeps file order).
    let mut slot = vec![usize::MAX; fields.len()];
    for (i, &p) in needed.iter().enumerate() {
        slot[p] = i;
    }
    let mut row = 0u64;
    for batch in reader {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                enc.errors.push(bad(&e));
                return None;
            }
        };
        let cols: Vec<TextColumn> = needed
            .iter()
            .zip(batch.columns())
            .map(|(&p, a)| TextColumn::new(a, temporal[p].as_ref()))
            .collect();
        for r in 0..batch.num_rows() {
            row += 1;
            let cell = |pos: usize| cols[slot[pos]].get(r);
            if !enc.row(Location::Row(row), cell) || enc.full() {
                return if mode == Mode::Encode {
                    None
                } else {
                    enc.finish()
                };
            }
        }
    }
    enc.finish()
}

/// How a Parquet date or timestamp is written out for a schema date or datetime column: in
/// the column's `format`, so the CSV reader's parsing applies unchanged.
enum Temporal {
    Date(String),
    DateTime(String),
}

/// A datetime column's text when its schema gives no `format` (ISO 8601, which it parses).
const DATETIME_TEXT: &str = "%Y-%m-%d %H:%M:%S";

/// Whether a Parquet column of this Arrow type can be read as text.
fn readable(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, v) => readable(v),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => true,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => true,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => true,
        DataType::Float32 | DataType::Float64 => true,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => true,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => true,
        _ => false,
    }
}

/// One column of a batch as text cells (`None` for null).
enum TextColumn<'a> {
    Utf8(&'a StringArray),
    /// Every other type, formatted once per batch.
    Owned(Vec<Option<String>>),
}

impl<'a> TextColumn<'a> {
    fn new(a: &'a ArrayRef, temporal: Option<&Temporal>) -> Self {
        match a.data_type() {
            DataType::Utf8 => TextColumn::Utf8(a.as_string::<i32>()),
            _ => TextColumn::Owned(to_text(a.as_ref(), temporal)),
        }
    }

    fn get(&self, r: usize) -> Option<&str> {
        match self {
            TextColumn::Utf8(s) => (!s.is_null(r)).then(|| s.value(r)),
            TextColumn::Owned(v) => v[r].as_deref(),
        }
    }
}

/// Formats every cell of `a` as the text the CSV reader would see (see the module docs).
/// Only called on types [`readable`] accepts; anything else yields nulls.
fn to_text(a: &dyn Array, temporal: Option<&Temporal>) -> Vec<Option<String>> {
    fn each<T>(a: &dyn Array, n: usize, f: impl Fn(usize) -> T) -> Vec<Option<String>>
    where
        T: ToString,
    {
        (0..n)
            .map(|i| (!a.is_null(i)).then(|| f(i).to_string()))
            .collect()
    }
    let n = a.len();
    let stamp = |t: Option<chrono::NaiveDateTime>| -> String {
        match (t, temporal) {
            (Some(t), Some(Temporal::Date(f))) => t.date().format(f).to_string(),
            (Some(t), Some(Temporal::DateTime(f))) => t.format(f).to_string(),
            (Some(t), None) => t.to_string(),
            (None, _) => String::new(),
        }
    };
    let date = |d: Option<chrono::NaiveDate>| -> String {
        match (d, temporal) {
            (Some(d), Some(Temporal::Date(f))) => d.format(f).to_string(),
            (Some(d), Some(Temporal::DateTime(_))) => {
                stamp(Some(d.and_time(chrono::NaiveTime::MIN)))
            }
            (Some(d), None) => d.format("%Y-%m-%d").to_string(),
            (None, _) => String::new(),
        }
    };
    match a.data_type() {
        DataType::Dictionary(_, _) => {
            let Some(dict) = a.as_any_dictionary_opt() else {
                return vec![None; n];
            };
            let values = to_text(dict.values().as_ref(), temporal);
            let keys = dict.normalized_keys();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        None
                    } else {
                        values.get(keys[i]).cloned().flatten()
                    }
                })
                .collect()
        }
        DataType::Utf8 => each(a, n, |i| a.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => each(a, n, |i| a.as_string::<i64>().value(i)),
        DataType::Utf8View => each(a, n, |i| a.as_string_view().value(i)),
        DataType::Boolean => each(a, n, |i| a.as_boolean().value(i)),
        DataType::Int8 => each(a, n, |i| a.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => each(a, n, |i| a.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => each(a, n, |i| a.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => each(a, n, |i| a.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => each(a, n, |i| a.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => each(a, n, |i| a.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => each(a, n, |i| a.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => each(a, n, |i| a.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => each(a, n, |i| a.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => each(a, n, |i| a.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal32(..) => each(a, n, |i| {
            a.as_primitive::<Decimal32Type>().value_as_string(i)
        }),
        DataType::Decimal64(..) => each(a, n, |i| {
            a.as_primitive::<Decimal64Type>().value_as_string(i)
        }),
        DataType::Decimal128(..) => each(a, n, |i| {
            a.as_primitive::<Decimal128Type>().value_as_string(i)
        }),
        DataType::Decimal256(..) => each(a, n, |i| {
            a.as_primitive::<Decimal256Type>().value_as_string(i)
        }),
        DataType::Date32 => each(a, n, |i| {
            date(a.as_primitive::<Date32Type>().value_as_date(i))
        }),
        DataType::Date64 => each(a, n, |i| {
            date(a.as_primitive::<Date64Type>().value_as_date(i))
        }),
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => each(a, n, |i| {
                stamp(a.as_primitive::<TimestampSecondType>().value_as_datetime(i))
            }),
            TimeUnit::Millisecond => each(a, n, |i| {
                stamp(
                    a.as_primitive::<TimestampMillisecondType>()
                        .value_as_datetime(i),
                )
            }),
            TimeUnit::Microsecond => each(a, n, |i| {
                stamp(
                    a.as_primitive::<TimestampMicrosecondType>()
                        .value_as_datetime(i),
                )
            }),
            TimeUnit::Nanosecond => each(a, n, |i| {
                stamp(
                    a.as_primitive::<TimestampNanosecondType>()
                        .value_as_datetime(i),
                )
            }),
        },
        _ => vec![None; n],
    }
}

/// Decodes synthetic codes like [`write_csv`](super::write_csv) (same values for the same
/// seed) and writes them to `path` as Parquet, every column as text (UTF-8, zstd), missing
/// cells as their missing token. Atomic: written to a temporary file beside `path` and
/// renamed into place when complete.
pub fn write_parquet(
    path: &Path,
    schema: &Schema,
    columns: &[Vec<u32>],
    seed: u64,
) -> Result<(), DataError> {
    write_parquet_decoded(path, &Decoder::uniform(schema)?, columns, seed)
}

/// [`write_parquet`] through a given decoder (a model's within-bin densities), like
/// [`write_decoded`](super::write_decoded).
pub fn write_parquet_decoded(
    path: &Path,
    decoder: &Decoder,
    columns: &[Vec<u32>],
    seed: u64,
) -> Result<(), DataError> {
    let schema = decoder.schema();
    let file = path.display().to_string();
    let perr = |e: parquet::errors::ParquetError| DataError::Write {
        file: file.clone(),
        source: std::io::Error::other(e.to_string()),
    };
    let names: Vec<&str> = written_names(schema);
    let arrow_schema = Arc::new(ArrowSchema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    super::write::write_atomically(path, ".parquet.tmp", |f| {
        let mut w = ArrowWriter::try_new(f, arrow_schema.clone(), Some(props)).map_err(perr)?;
        let mut rows = decoded_rows(decoder, columns, seed)?;
        let width = names.len();
        loop {
            let mut cols: Vec<Vec<String>> = vec![Vec::with_capacity(BATCH_ROWS); width];
            let mut got = 0;
            while got < BATCH_ROWS {
                let Some(row) = rows.next_row()? else { break };
                for (c, v) in cols.iter_mut().zip(row) {
                    c.push(v.clone());
                }
                got += 1;
            }
            if got == 0 {
                break;
            }
            let arrays: Vec<ArrayRef> = cols
                .into_iter()
                .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
                .collect();
            let batch = RecordBatch::try_new(arrow_schema.clone(), arrays)
                .map_err(|e| perr(parquet::errors::ParquetError::General(e.to_string())))?;
            w.write(&batch).map_err(perr)?;
        }
        w.close().map_err(perr)?;
        Ok(())
    })
}

/// Number of rows of a Parquet file (from its footer), for the certificate.
pub fn parquet_rows(path: &Path) -> Result<u64, DataError> {
    let file = path.display().to_string();
    let f = File::open(path).map_err(|e| DataError::Open {
        file: file.clone(),
        source: e,
    })?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| DataError::Parquet {
        file,
        message: e.to_string(),
    })?;
    Ok(b.metadata().file_metadata().num_rows().max(0) as u64)
}
