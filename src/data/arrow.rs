//! Arrow record batches in and out: how DataFrames (pandas, polars, pyarrow, anything with
//! the Arrow PyCapsule interface) reach the encoder and how synthetic records leave as a
//! typed table.
//!
//! Reading hands each cell, as the text the CSV reader would see, straight to the CSV reader's
//! encoder (no CSV is written or parsed; text arrays are read in place, integers formatted
//! into one buffer per batch), so the schema rules and every error are the CSV reader's: numbers in
//! their shortest exact form (`39`, `0.1`), booleans `true`/`false`, dates in the schema
//! column's `format`, timestamps as ISO date-times (their date for date columns), and a null
//! or NaN cell is a missing value whatever the column's tokens. Messages name the source
//! (e.g. `DataFrame`) and count lines as a CSV export of it would: the header is line 1, the
//! first row line 2 (a text cell holding a line break does not shift the count).
//!
//! Writing ([`synthetic_batch`]) decodes synthetic codes exactly as
//! [`write_csv`](super::write_csv) does (same seed, same values, same column order), then
//! types each column by its schema kind: integer -> Int64, float -> Float64, date -> Date32,
//! datetime -> Timestamp (microseconds), categorical and id -> Utf8; missing cells are null.

use std::io::Read;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema as ArrowSchema, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};

use crate::schema::{draft_from_reader, Column, ColumnKind, DraftError, Schema};

use super::decode::{decode_rng, CodeText, Decoder};
use super::encoded::EncodedTable;
use super::error::{DataError, Location};
use super::read::{EncodeReport, Encoder, Mode, ReadOptions};
use super::write::{synthetic_id, validate};

/// Reads and encodes a stream of record batches with `schema`: the Arrow counterpart of
/// [`read_csv_from`], with the same table, report and errors. `fields` is the stream's
/// schema; `source_name` names the source in messages. Batches are converted one at a time.
pub fn read_arrow_with<I>(
    fields: &ArrowSchema,
    batches: I,
    source_name: &str,
    schema: &Schema,
    opts: &ReadOptions,
) -> Result<(EncodedTable, EncodeReport), DataError>
where
    I: Iterator<Item = Result<RecordBatch, ArrowError>>,
{
    for f in fields.fields() {
        if schema.column(f.name()).is_some() && !readable(f.data_type()) {
            return Err(DataError::Malformed {
                file: source_name.to_string(),
                line: Location::Line(1),
                message: format!(
                    "column {:?} has the Arrow type {}, which dpsynth cannot read; convert it to text or numbers first",
                    f.name(),
                    f.data_type()
                ),
            });
        }
    }
    let header: Vec<String> = fields.fields().iter().map(|f| f.name().clone()).collect();
    let mut errors = Vec::new();
    let out = encode_batches(batches, source_name, schema, opts, &header, &mut errors);
    match (out, errors.into_iter().next()) {
        (_, Some(e)) => Err(e),
        (Some(t), None) => Ok(t),
        (None, None) => Err(DataError::Empty {
            file: source_name.to_string(),
        }),
    }
}

/// The reading loop of [`read_arrow_with`]: each batch's needed columns as text cells
/// ([`TextColumn`], without a per-cell allocation for text and integer arrays) fed to the
/// CSV reader's [`Encoder`] row by row.
fn encode_batches<I>(
    batches: I,
    source_name: &str,
    schema: &Schema,
    opts: &ReadOptions,
    header: &[String],
    errors: &mut Vec<DataError>,
) -> Option<(EncodedTable, EncodeReport)>
where
    I: Iterator<Item = Result<RecordBatch, ArrowError>>,
{
    let mut enc = Encoder::new(source_name, schema, opts, Mode::Encode, header, errors)?;
    let needed = enc.needed_positions();
    // The schema column read at each needed position (its date format, its missing token).
    let cols: Vec<Option<&Column>> = needed.iter().map(|&p| schema.column(&header[p])).collect();
    let mut slot = vec![usize::MAX; header.len()];
    for (i, &p) in needed.iter().enumerate() {
        slot[p] = i;
    }
    let mut line = 1u64;
    for batch in batches {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                enc.errors.push(stream_error(source_name, &e));
                return None;
            }
        };
        let text: Vec<TextColumn> = needed
            .iter()
            .zip(&cols)
            .map(|(&p, col)| TextColumn::new(batch.column(p).as_ref(), *col))
            .collect();
        for r in 0..batch.num_rows() {
            // Lines as in a CSV export: the header is line 1.
            line += 1;
            let cell = |pos: usize| Some(text[slot[pos]].get(r));
            if !enc.row(Location::Line(line), cell) || enc.full() {
                return None;
            }
        }
    }
    enc.finish()
}

/// One needed column of a batch as the CSV reader's text cells; a null (or NaN) is the
/// schema column's missing token, as a CSV export writes it.
struct TextColumn<'a> {
    cells: Cells<'a>,
    /// What a null cell reads as.
    missing: String,
}

enum Cells<'a> {
    Utf8(&'a arrow_array::StringArray),
    LargeUtf8(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
    /// Formatted into one buffer: cell `r` is `buf[ends[r - 1]..ends[r]]`, unless null.
    Packed {
        buf: String,
        ends: Vec<usize>,
        nulls: Vec<bool>,
    },
    /// Every other type, one string per cell.
    Owned(Vec<Option<String>>),
}

impl<'a> TextColumn<'a> {
    fn new(a: &'a dyn Array, col: Option<&Column>) -> Self {
        let missing = col.map(|c| c.missing_text()).unwrap_or_default();
        let cells = match a.data_type() {
            DataType::Utf8 => Cells::Utf8(a.as_string::<i32>()),
            DataType::LargeUtf8 => Cells::LargeUtf8(a.as_string::<i64>()),
            DataType::Utf8View => Cells::View(a.as_string_view()),
            DataType::Int8 => packed_int(a.as_primitive::<Int8Type>()),
            DataType::Int16 => packed_int(a.as_primitive::<Int16Type>()),
            DataType::Int32 => packed_int(a.as_primitive::<Int32Type>()),
            DataType::Int64 => packed_int(a.as_primitive::<Int64Type>()),
            DataType::UInt8 => packed_int(a.as_primitive::<UInt8Type>()),
            DataType::UInt16 => packed_int(a.as_primitive::<UInt16Type>()),
            DataType::UInt32 => packed_int(a.as_primitive::<UInt32Type>()),
            DataType::UInt64 => packed_int(a.as_primitive::<UInt64Type>()),
            _ => Cells::Owned(to_text(a, col)),
        };
        TextColumn { cells, missing }
    }

    fn get(&self, r: usize) -> &str {
        let text = match &self.cells {
            Cells::Utf8(s) => (!s.is_null(r)).then(|| s.value(r)),
            Cells::LargeUtf8(s) => (!s.is_null(r)).then(|| s.value(r)),
            Cells::View(s) => (!s.is_null(r)).then(|| s.value(r)),
            Cells::Packed { buf, ends, nulls } => (!nulls[r]).then(|| {
                let start = if r == 0 { 0 } else { ends[r - 1] };
                &buf[start..ends[r]]
            }),
            Cells::Owned(v) => v[r].as_deref(),
        };
        text.unwrap_or(&self.missing)
    }
}

/// An integer column formatted as the CSV reader would see it (`39`), into one buffer.
fn packed_int<T>(a: &arrow_array::PrimitiveArray<T>) -> Cells<'static>
where
    T: arrow_array::ArrowPrimitiveType,
    T::Native: itoa::Integer,
{
    let mut buf = String::with_capacity(a.len() * 4);
    let mut ends = Vec::with_capacity(a.len());
    let mut nulls = Vec::with_capacity(a.len());
    let mut f = itoa::Buffer::new();
    for i in 0..a.len() {
        let null = a.is_null(i);
        if !null {
            buf.push_str(f.format(a.value(i)));
        }
        nulls.push(null);
        ends.push(buf.len());
    }
    Cells::Packed { buf, ends, nulls }
}

/// Drafts a schema from a stream of record batches, as [`draft_from_csv`] does from a file:
/// the result is PRIVATE and marked `draft = true`. Cells are read as text as the module docs
/// say (ISO dates); nulls are empty cells, which a draft treats as missing.
pub fn draft_from_arrow<I>(
    fields: &ArrowSchema,
    batches: I,
    source_name: &str,
) -> Result<String, DraftError>
where
    I: Iterator<Item = Result<RecordBatch, ArrowError>>,
{
    let slots = fields.fields().iter().map(|_| Slot::Text(None)).collect();
    let reader = BatchText::new(fields, batches, slots).map_err(|e| DraftError::Malformed {
        file: source_name.to_string(),
        line: 0,
        message: e.to_string(),
    })?;
    draft_from_reader(reader, source_name)
}

fn stream_error(source_name: &str, e: &dyn std::fmt::Display) -> DataError {
    DataError::Malformed {
        file: source_name.to_string(),
        line: Location::Line(0),
        message: format!("reading the Arrow stream failed: {e}"),
    }
}

/// How one stream field becomes CSV text (for drafts): formatted as text; with a schema
/// column, in its date format and with its missing token for nulls.
enum Slot<'a> {
    Text(Option<&'a Column>),
}

/// The batches as CSV text (header first), produced one batch at a time as the reader asks
/// for bytes.
struct BatchText<'a, I> {
    batches: I,
    slots: Vec<Slot<'a>>,
    buf: Vec<u8>,
    pos: usize,
}

impl<'a, I> BatchText<'a, I> {
    fn new(fields: &ArrowSchema, batches: I, slots: Vec<Slot<'a>>) -> Result<Self, csv::Error> {
        let mut header = csv::Writer::from_writer(Vec::new());
        header.write_record(fields.fields().iter().map(|f| f.name().as_str()))?;
        let buf = header
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(BatchText {
            batches,
            slots,
            buf,
            pos: 0,
        })
    }
}

impl<I> Read for BatchText<'_, I>
where
    I: Iterator<Item = Result<RecordBatch, ArrowError>>,
{
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            let Some(batch) = self.batches.next() else {
                return Ok(0);
            };
            let batch = batch.map_err(std::io::Error::other)?;
            self.buf = batch_text(&batch, &self.slots).map_err(std::io::Error::other)?;
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// One batch as CSV rows (no header).
fn batch_text(batch: &RecordBatch, slots: &[Slot]) -> Result<Vec<u8>, csv::Error> {
    let cells: Vec<Vec<Option<String>>> = batch
        .columns()
        .iter()
        .zip(slots)
        .map(|(a, s)| match s {
            Slot::Text(col) => to_text(a.as_ref(), *col),
        })
        .collect();
    let mut w = csv::WriterBuilder::new().from_writer(Vec::with_capacity(batch.num_rows() * 64));
    let mut row: Vec<String> = Vec::with_capacity(cells.len());
    for r in 0..batch.num_rows() {
        row.clear();
        for (col, s) in cells.iter().zip(slots) {
            row.push(match (&col[r], s) {
                (Some(v), _) => v.clone(),
                // A null is missing: the column's own missing token.
                (None, Slot::Text(Some(c))) => c.missing_text(),
                (None, Slot::Text(None)) => String::new(),
            });
        }
        w.write_record(&row)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// Whether a column of this Arrow type can be read as text.
fn readable(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, v) => readable(v),
        DataType::Null | DataType::Boolean => true,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => true,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => true,
        DataType::Float32 | DataType::Float64 => true,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => true,
        _ => false,
    }
}

/// Every cell of `a` as the text the CSV reader would see for schema column `col` (see the
/// module docs); `None` for null and NaN.
fn to_text(a: &dyn Array, col: Option<&Column>) -> Vec<Option<String>> {
    fn each<T: ToString>(a: &dyn Array, f: impl Fn(usize) -> T) -> Vec<Option<String>> {
        (0..a.len())
            .map(|i| (!a.is_null(i)).then(|| f(i).to_string()))
            .collect()
    }
    fn float(a: &dyn Array, f: impl Fn(usize) -> f64) -> Vec<Option<String>> {
        (0..a.len())
            .map(|i| {
                let v = f(i);
                (!a.is_null(i) && !v.is_nan()).then(|| v.to_string())
            })
            .collect()
    }
    let kind = col.map(|c| c.kind());
    let date_format = match kind {
        Some(ColumnKind::Date(d)) => Some(d.format().to_string()),
        _ => None,
    };
    let stamp_format = match kind {
        Some(ColumnKind::DateTime(d)) => d.format().unwrap_or("%Y-%m-%dT%H:%M:%S").to_string(),
        _ => date_format.clone().unwrap_or("%Y-%m-%dT%H:%M:%S".into()),
    };
    let date = |d: Option<NaiveDate>| match d {
        Some(d) => d
            .format(date_format.as_deref().unwrap_or("%Y-%m-%d"))
            .to_string(),
        None => String::new(),
    };
    let stamp = |t: Option<NaiveDateTime>| match t {
        Some(t) => t.format(&stamp_format).to_string(),
        None => String::new(),
    };
    match a.data_type() {
        DataType::Dictionary(_, _) => {
            let Some(dict) = a.as_any_dictionary_opt() else {
                return vec![None; a.len()];
            };
            let values = to_text(dict.values().as_ref(), col);
            let keys = dict.normalized_keys();
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        None
                    } else {
                        values.get(keys[i]).cloned().flatten()
                    }
                })
                .collect()
        }
        DataType::Null => vec![None; a.len()],
        DataType::Utf8 => each(a, |i| a.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => each(a, |i| a.as_string::<i64>().value(i)),
        DataType::Utf8View => each(a, |i| a.as_string_view().value(i)),
        DataType::Boolean => each(a, |i| a.as_boolean().value(i)),
        DataType::Int8 => each(a, |i| a.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => each(a, |i| a.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => each(a, |i| a.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => each(a, |i| a.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => each(a, |i| a.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => each(a, |i| a.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => each(a, |i| a.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => each(a, |i| a.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => float(a, |i| a.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => float(a, |i| a.as_primitive::<Float64Type>().value(i)),
        DataType::Date32 => each(a, |i| date(a.as_primitive::<Date32Type>().value_as_date(i))),
        DataType::Date64 => each(a, |i| date(a.as_primitive::<Date64Type>().value_as_date(i))),
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => each(a, |i| {
                stamp(a.as_primitive::<TimestampSecondType>().value_as_datetime(i))
            }),
            TimeUnit::Millisecond => each(a, |i| {
                stamp(
                    a.as_primitive::<TimestampMillisecondType>()
                        .value_as_datetime(i),
                )
            }),
            TimeUnit::Microsecond => each(a, |i| {
                stamp(
                    a.as_primitive::<TimestampMicrosecondType>()
                        .value_as_datetime(i),
                )
            }),
            TimeUnit::Nanosecond => each(a, |i| {
                stamp(
                    a.as_primitive::<TimestampNanosecondType>()
                        .value_as_datetime(i),
                )
            }),
        },
        _ => vec![None; a.len()],
    }
}

/// Decodes synthetic codes (one vector per modelled column, in [`Schema::modelled`] order)
/// into a record batch of the written columns in schema order: the same values, drawn with
/// the same seeded generator in the same order, as [`write_csv`](super::write_csv), typed by
/// the column's kind (see the module docs). A column whose decoded text does not parse as
/// its type (a date format without a day, say) stays text.
pub fn synthetic_batch(
    decoder: &Decoder,
    columns: &[Vec<u32>],
    seed: u64,
) -> Result<RecordBatch, DataError> {
    let schema = decoder.schema();
    validate(schema, columns)?;
    let written: Vec<&Column> = schema.columns().iter().filter(|c| c.is_written()).collect();
    let n_rows = columns.first().map_or(0, Vec::len);
    let text = match decoder.code_texts() {
        Some(fixed) => coded_texts(decoder, &written, fixed, columns, seed)?,
        None => record_texts(decoder, &written, columns, seed)?,
    };
    let mut fields = Vec::with_capacity(written.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(written.len());
    for (col, cells) in written.iter().zip(&text) {
        let get = |r: usize| cells.get(r);
        let array = typed(col, n_rows, get)
            .unwrap_or_else(|| Arc::new((0..n_rows).map(get).collect::<StringArray>()));
        fields.push(Field::new(col.name(), array.data_type().clone(), true));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays).map_err(|e| {
        DataError::Malformed {
            file: "synthetic records".into(),
            line: Location::Line(0),
            message: format!("internal error building the Arrow table: {e}"),
        }
    })
}

/// One written column's decoded texts (`None`: a missing cell, null in Arrow).
enum Texts {
    /// One string per cell (id columns; every column of a schema with rules).
    Owned(Vec<Option<String>>),
    /// Cells that point at their code's fixed text, or at a value drawn within its bin.
    Coded {
        fixed: Vec<String>,
        drawn: Vec<String>,
        cells: Vec<CodedCell>,
    },
}

#[derive(Clone, Copy)]
enum CodedCell {
    Missing,
    Fixed(u32),
    Drawn(u32),
}

impl Texts {
    fn get(&self, r: usize) -> Option<&str> {
        match self {
            Texts::Owned(v) => v[r].as_deref(),
            Texts::Coded {
                fixed,
                drawn,
                cells,
            } => match cells[r] {
                CodedCell::Missing => None,
                CodedCell::Fixed(k) => Some(&fixed[k as usize]),
                CodedCell::Drawn(i) => Some(&drawn[i as usize]),
            },
        }
    }
}

/// The texts of a schema without rules: each code's fixed text once, values drawn within
/// bins in record order and column order, as [`CsvChunkWriter`](super::CsvChunkWriter) draws
/// them (same seed, same values).
#[allow(clippy::needless_range_loop)] // records are read across the column vectors
fn coded_texts(
    decoder: &Decoder,
    written: &[&Column],
    fixed: Vec<Vec<CodeText>>,
    columns: &[Vec<u32>],
    seed: u64,
) -> Result<Vec<Texts>, DataError> {
    let n_rows = columns.first().map_or(0, Vec::len);
    let modelled: Vec<&Column> = decoder.schema().modelled();
    // Per modelled column: each code's fixed text (empty when drawn) and its bin when drawn.
    let mut texts: Vec<Vec<String>> = Vec::with_capacity(fixed.len());
    let mut bins: Vec<Vec<Option<crate::schema::value::IntervalSet>>> = Vec::new();
    for codes in fixed {
        let (t, b): (Vec<String>, Vec<_>) = codes
            .into_iter()
            .map(|c| match c {
                CodeText::Fixed(t) => (t, None),
                CodeText::Drawn(set) => (String::new(), Some(set)),
            })
            .unzip();
        texts.push(t);
        bins.push(b);
    }
    let mut drawn: Vec<Vec<String>> = vec![Vec::new(); modelled.len()];
    let mut cells: Vec<Vec<CodedCell>> = vec![Vec::with_capacity(n_rows); modelled.len()];
    let mut rng = decode_rng(seed);
    for r in 0..n_rows {
        // Column order within a record: the order the CSV writer draws in.
        for (j, col) in modelled.iter().enumerate() {
            let code = columns[j][r];
            let cell = if col.missing_code() == Some(code) {
                CodedCell::Missing
            } else {
                match &bins[j][code as usize] {
                    None => CodedCell::Fixed(code),
                    Some(set) => {
                        let v = decoder.draw(j, set, &mut rng).ok_or_else(|| {
                            DataError::RuleViolation {
                                row: r + 1,
                                what: format!("column {:?}: an empty bin", col.name()),
                            }
                        })?;
                        drawn[j].push(col.format_axis(v));
                        CodedCell::Drawn((drawn[j].len() - 1) as u32)
                    }
                }
            };
            cells[j].push(cell);
        }
    }
    let mut coded = texts
        .into_iter()
        .zip(drawn)
        .zip(cells)
        .map(|((fixed, drawn), cells)| Texts::Coded {
            fixed,
            drawn,
            cells,
        });
    Ok(written
        .iter()
        .filter_map(|col| match col.kind() {
            ColumnKind::Id { prefix } => Some(Texts::Owned(
                (0..n_rows)
                    .map(|r| Some(synthetic_id(prefix.as_deref(), r)))
                    .collect(),
            )),
            _ => coded.next(),
        })
        .collect())
}

/// The texts of a schema with rules: record by record through [`Decoder::decode_record`]
/// (drawn inside the rules, checked), as `write_decoded_to` writes them.
fn record_texts(
    decoder: &Decoder,
    written: &[&Column],
    columns: &[Vec<u32>],
    seed: u64,
) -> Result<Vec<Texts>, DataError> {
    let n_rows = columns.first().map_or(0, Vec::len);
    let mut text: Vec<Vec<Option<String>>> =
        written.iter().map(|_| Vec::with_capacity(n_rows)).collect();
    let mut rng = decode_rng(seed);
    let mut codes = vec![0u32; columns.len()];
    for r in 0..n_rows {
        for (c, col) in codes.iter_mut().zip(columns) {
            *c = col[r];
        }
        let mut values = decoder.decode_record(r, &codes, &mut rng)?.into_iter();
        let mut m = 0;
        for (j, col) in written.iter().enumerate() {
            if let ColumnKind::Id { prefix } = col.kind() {
                text[j].push(Some(synthetic_id(prefix.as_deref(), r)));
                continue;
            }
            let code = codes[m];
            m += 1;
            let value = values.next().unwrap_or_default();
            text[j].push((col.missing_code() != Some(code)).then_some(value));
        }
    }
    Ok(text.into_iter().map(Texts::Owned).collect())
}

/// The column as its kind's Arrow type, or `None` if some cell does not parse as it.
fn typed<'t>(col: &Column, n: usize, cell: impl Fn(usize) -> Option<&'t str>) -> Option<ArrayRef> {
    let parse = |f: &dyn Fn(&str) -> Option<i64>| -> Option<Vec<Option<i64>>> {
        (0..n)
            .map(|r| match cell(r) {
                Some(s) => f(s).map(Some),
                None => Some(None),
            })
            .collect()
    };
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some(match col.kind() {
        ColumnKind::Integer(_) => Arc::new(Int64Array::from(parse(&|s| s.parse::<i64>().ok())?)),
        ColumnKind::Float(_) => {
            let v: Option<Vec<Option<f64>>> = (0..n)
                .map(|r| match cell(r) {
                    Some(s) => s.parse::<f64>().ok().map(Some),
                    None => Some(None),
                })
                .collect();
            Arc::new(Float64Array::from(v?))
        }
        ColumnKind::Date(d) => {
            let days = parse(&|s| {
                let day = NaiveDate::parse_from_str(s, d.format()).ok()?;
                Some((day - epoch).num_days())
            })?;
            let days: Option<Vec<Option<i32>>> = days
                .into_iter()
                .map(|d| match d {
                    None => Some(None),
                    Some(d) => i32::try_from(d).ok().map(Some),
                })
                .collect();
            Arc::new(Date32Array::from(days?))
        }
        ColumnKind::DateTime(d) => Arc::new(TimestampMicrosecondArray::from(parse(&|s| {
            let t = match d.format() {
                Some(f) => NaiveDateTime::parse_from_str(s, f).ok()?,
                None => parse_iso_datetime(s)?,
            };
            Some(t.and_utc().timestamp_micros())
        })?)),
        _ => return None,
    })
}

fn parse_iso_datetime(s: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

#[cfg(test)]
mod tests {
    use super::super::read::read_csv_from;
    use super::*;
    use arrow_array::types::Int8Type as Key8;
    use arrow_array::{BooleanArray, DictionaryArray, Int32Array};

    const SCHEMA: &str = r#"
[[columns]]
name = "sex"
kind = "categorical"
values = ["F", "M"]

[[columns]]
name = "age"
kind = "integer"
min = 0
max = 99
bin_width = 10
missing = "category"

[[columns]]
name = "admitted"
kind = "date"
min = "2020-01-01"
max = "2020-12-31"
unit = "month"

[[columns]]
name = "smoker"
kind = "categorical"
values = ["true", "false"]
"#;

    fn schema() -> Schema {
        Schema::from_toml_str(SCHEMA, "test schema").unwrap()
    }

    fn csv_text() -> &'static str {
        "sex,age,admitted,smoker\nF,39,2020-03-04,true\nM,,2020-11-30,false\nM,120,2020-01-01,true\n"
    }

    fn batch() -> (ArrowSchema, RecordBatch) {
        let sex: DictionaryArray<Key8> = vec!["F", "M", "M"].into_iter().collect();
        let age = Float64Array::from(vec![Some(39.0), Some(f64::NAN), Some(120.0)]);
        let day = |y, m, d| {
            (NaiveDate::from_ymd_opt(y, m, d).unwrap()
                - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
            .num_days() as i32
        };
        let admitted = Date32Array::from(vec![day(2020, 3, 4), day(2020, 11, 30), day(2020, 1, 1)]);
        let smoker = BooleanArray::from(vec![true, false, true]);
        let extra = Int32Array::from(vec![1, 2, 3]);
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(sex),
            Arc::new(age),
            Arc::new(admitted),
            Arc::new(smoker),
            Arc::new(extra),
        ];
        let fields: Vec<Field> = ["sex", "age", "admitted", "smoker", "extra"]
            .iter()
            .zip(&arrays)
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        let s = ArrowSchema::new(fields);
        let b = RecordBatch::try_new(Arc::new(s.clone()), arrays).unwrap();
        (s, b)
    }

    #[test]
    fn typed_batches_encode_like_the_csv() {
        let schema = schema();
        let (want, want_report) = read_csv_from(
            csv_text().as_bytes(),
            "t.csv",
            &schema,
            &ReadOptions::default(),
        )
        .unwrap();
        let (fields, b) = batch();
        let opts = ReadOptions {
            allow_extra_columns: true,
            ..ReadOptions::default()
        };
        // Split in two batches: the stream is read batch by batch.
        let parts = vec![Ok(b.slice(0, 2)), Ok(b.slice(2, 1))];
        let (got, report) =
            read_arrow_with(&fields, parts.into_iter(), "DataFrame", &schema, &opts).unwrap();
        assert_eq!(got.n_rows(), 3);
        for c in 0..want.n_cols() {
            assert_eq!(got.column(c), want.column(c), "column {c}");
        }
        assert_eq!(report, want_report);
    }

    #[test]
    fn errors_name_the_source_line_and_column() {
        let schema = schema();
        let sex = StringArray::from(vec!["F", "X"]);
        let age = Int64Array::from(vec![1, 2]);
        let admitted = StringArray::from(vec!["2020-01-01", "2020-01-01"]);
        let smoker = StringArray::from(vec!["true", "true"]);
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(sex),
            Arc::new(age),
            Arc::new(admitted),
            Arc::new(smoker),
        ];
        let fields = ArrowSchema::new(
            ["sex", "age", "admitted", "smoker"]
                .iter()
                .zip(&arrays)
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        let b = RecordBatch::try_new(Arc::new(fields.clone()), arrays).unwrap();
        let e = read_arrow_with(
            &fields,
            vec![Ok(b)].into_iter(),
            "DataFrame",
            &schema,
            &ReadOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "DataFrame: line 3: column \"sex\": value \"X\" is not in the schema's list"
            ),
            "{e}"
        );
        // Without the extra column allowed, the CSV reader's header error.
        let (fields, b) = batch();
        let e = read_arrow_with(
            &fields,
            vec![Ok(b)].into_iter(),
            "DataFrame",
            &schema,
            &ReadOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("column(s) \"extra\" are not in the schema"),
            "{e}"
        );
    }

    #[test]
    fn synthetic_batch_holds_the_csv_values_typed() {
        let schema = schema();
        let (table, _) = read_csv_from(
            csv_text().as_bytes(),
            "t.csv",
            &schema,
            &ReadOptions::default(),
        )
        .unwrap();
        let codes: Vec<Vec<u32>> = (0..table.n_cols())
            .map(|c| {
                (0..table.n_rows())
                    .map(|r| table.column(c).get(r))
                    .collect()
            })
            .collect();
        let mut csv = Vec::new();
        crate::data::write_csv_to(&mut csv, "s.csv", &schema, &codes, 7).unwrap();
        let b = synthetic_batch(&Decoder::uniform(&schema).unwrap(), &codes, 7).unwrap();
        assert_eq!(b.schema().field(1).data_type(), &DataType::Int64);
        assert_eq!(b.schema().field(2).data_type(), &DataType::Date32);
        // Same values as the CSV: re-encoding the batch gives the CSV's codes.
        let (from_csv, _) =
            read_csv_from(csv.as_slice(), "s.csv", &schema, &ReadOptions::default()).unwrap();
        let (from_arrow, _) = read_arrow_with(
            b.schema().as_ref(),
            vec![Ok(b.clone())].into_iter(),
            "synthetic",
            &schema,
            &ReadOptions::default(),
        )
        .unwrap();
        for c in 0..from_csv.n_cols() {
            assert_eq!(from_arrow.column(c), from_csv.column(c));
        }
        let text = String::from_utf8(csv).unwrap();
        let age = b.column(1).as_primitive::<Int64Type>();
        assert!(age.is_null(1), "the missing category decodes to null");
        let second = text.lines().nth(2).unwrap();
        assert_eq!(second.split(',').nth(1), Some(""));
        let first_age: i64 = text
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(age.value(0), first_age);
    }

    /// Every cell of the batch, formatted back as the CSV reader would see it, is the cell
    /// `write_csv_to` writes with the same seed (values drawn within bins and months included,
    /// synthetic ids numbered alike), over many records.
    #[test]
    fn synthetic_batch_cells_are_the_csv_cells() {
        let text =
            format!("{SCHEMA}\n[[columns]]\nname = \"pid\"\nkind = \"id\"\nprefix = \"P\"\n");
        let schema = Schema::from_toml_str(&text, "test schema").unwrap();
        let cards: Vec<u32> = schema
            .modelled()
            .iter()
            .map(|c| c.cardinality() as u32)
            .collect();
        let n = 500;
        let codes: Vec<Vec<u32>> = cards
            .iter()
            .enumerate()
            .map(|(j, &k)| (0..n).map(|r| ((r * (j + 3) + r / 7) as u32) % k).collect())
            .collect();
        let decoder = Decoder::uniform(&schema).unwrap();
        let mut csv = Vec::new();
        crate::data::write_csv_to(&mut csv, "s.csv", &schema, &codes, 11).unwrap();
        let b = synthetic_batch(&decoder, &codes, 11).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let fields = b.schema();
        let names: Vec<&str> = fields.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(header, names);
        let cells: Vec<Vec<Option<String>>> = b
            .columns()
            .iter()
            .zip(&names)
            .map(|(a, name)| to_text(a.as_ref(), schema.column(name)))
            .collect();
        let mut rows = 0;
        for (r, line) in lines.enumerate() {
            for (c, want) in line.split(',').enumerate() {
                let got = cells[c][r].clone().unwrap_or_default();
                assert_eq!(got, want, "row {r}, column {}", names[c]);
            }
            rows += 1;
        }
        assert_eq!(rows, n);
        assert!(cells[4]
            .iter()
            .all(|c| c.as_deref().is_some_and(|t| t.starts_with("PSYN-"))));
    }
}
