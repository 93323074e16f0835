//! Decoding codes back into a CSV file: post-processing of synthetic codes, seeded so a
//! release can be re-decoded exactly.

use std::io::Write;
use std::path::Path;

use crate::schema::{Column, ColumnKind, Schema};

use super::decode::{decode_rng, CodeText, Decoder};
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
        write_decoded_to(f, &file, decoder, columns, seed)
    })
}

/// Writes `path` atomically: `body` fills a temporary file beside it (named with `suffix`),
/// which is synced and renamed into place only when `body` succeeds, so a failure never
/// leaves a partial file. Shared by the CSV and Parquet writers and the release pipeline.
pub fn write_atomically<E: From<DataError>>(
    path: &Path,
    suffix: &str,
    body: impl FnOnce(&mut std::fs::File) -> Result<(), E>,
) -> Result<(), E> {
    let werr = |e: std::io::Error| {
        E::from(DataError::Write {
            file: path.display().to_string(),
            source: e,
        })
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
    let mut w = CsvChunkWriter::new(writer, sink_name, decoder, seed)?;
    w.write_chunk(columns)?;
    w.finish()?;
    Ok(())
}

/// Bytes gathered before they go to the underlying writer.
const WRITE_BUFFER: usize = 1 << 20;

/// A synthetic CSV written chunk by chunk: the header first, then each chunk of codes
/// (column-major, consecutive records) decoded and written as it comes, so a table of any
/// size is never held whole. The bytes are exactly those of writing all records at once
/// (one decoding stream, [`decode_rng`], in record order; ids numbered across chunks), and
/// those the `csv` crate writes (fields quoted only where needed, `\n` after each record).
///
/// Without rules in the schema each code's text is prepared once and copied per record;
/// with rules every record goes through [`Decoder::decode_record`] (drawn inside the
/// rules, checked).
pub struct CsvChunkWriter<'a, W: Write> {
    out: W,
    sink_name: String,
    decoder: &'a Decoder,
    modelled: Vec<&'a Column>,
    /// Per written column: an id (its prefix) or modelled column `j`.
    slots: Vec<Slot<'a>>,
    /// Per modelled column and code, the CSV bytes of a fixed text (None: drawn); `None`
    /// when the schema has rules.
    plain: Option<Vec<Vec<PlainCode>>>,
    /// When every written column is modelled and every code's CSV bytes are fixed and at
    /// most 16 long: those bytes, zero-padded, and their length (copied as one 16-byte move).
    short: Option<Vec<Vec<ShortField>>>,
    rng: rand_chacha::ChaCha20Rng,
    /// Records written so far.
    next: usize,
    buf: Vec<u8>,
    codes: Vec<u32>,
    quoter: Quoter,
}

/// A field's CSV bytes, zero-padded to 16, and their length.
type ShortField = ([u8; 16], u8);

enum Slot<'a> {
    Id(Option<&'a str>),
    Modelled(usize),
}

enum PlainCode {
    Fixed(Vec<u8>),
    Drawn(crate::schema::value::IntervalSet),
}

impl<'a, W: Write> CsvChunkWriter<'a, W> {
    /// Writes the header to `writer` (buffered here: pass an unbuffered file);
    /// `sink_name` names it in messages.
    pub fn new(
        writer: W,
        sink_name: &str,
        decoder: &'a Decoder,
        seed: u64,
    ) -> Result<Self, DataError> {
        let schema = decoder.schema();
        let modelled = schema.modelled();
        let mut j = 0;
        let slots = schema
            .columns()
            .iter()
            .filter_map(|col| match col.kind() {
                ColumnKind::Id { prefix } => Some(Slot::Id(prefix.as_deref())),
                ColumnKind::Skip => None,
                _ => {
                    j += 1;
                    Some(Slot::Modelled(j - 1))
                }
            })
            .collect::<Vec<_>>();
        let mut quoter = Quoter::new(slots.len());
        let plain = decoder.code_texts().map(|cols| {
            cols.into_iter()
                .map(|codes| {
                    codes
                        .into_iter()
                        .map(|c| match c {
                            CodeText::Fixed(t) => {
                                let mut b = Vec::new();
                                quoter.push(&mut b, &t);
                                PlainCode::Fixed(b)
                            }
                            CodeText::Drawn(set) => PlainCode::Drawn(set),
                        })
                        .collect()
                })
                .collect()
        });
        let short = short_codes(&slots, plain.as_deref());
        let mut w = CsvChunkWriter {
            out: writer,
            sink_name: sink_name.to_string(),
            decoder,
            modelled,
            slots,
            plain,
            short,
            rng: decode_rng(seed),
            next: 0,
            buf: Vec::with_capacity(WRITE_BUFFER + (1 << 16)),
            codes: Vec::new(),
            quoter,
        };
        let names = written_names(schema);
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                w.buf.push(b',');
            }
            w.quoter.push(&mut w.buf, name);
        }
        w.buf.push(b'\n');
        Ok(w)
    }

    /// Records written so far.
    pub fn rows(&self) -> usize {
        self.next
    }

    /// Decodes and writes the next records: `columns` holds one code vector per modelled
    /// column, all of the same length.
    pub fn write_chunk(&mut self, columns: &[Vec<u32>]) -> Result<(), DataError> {
        validate(self.decoder.schema(), columns).map_err(|e| match e {
            DataError::CodeOutOfRange {
                column,
                row,
                code,
                cardinality,
            } => DataError::CodeOutOfRange {
                column,
                row: row + self.next,
                code,
                cardinality,
            },
            e => e,
        })?;
        let n = columns.first().map_or(0, Vec::len);
        if self.short.is_some() {
            return self.write_short(columns, n);
        }
        self.codes.resize(columns.len(), 0);
        for r in 0..n {
            let row = self.next;
            self.next += 1;
            for (c, col) in self.codes.iter_mut().zip(columns) {
                *c = col[r];
            }
            match &self.plain {
                Some(plain) => {
                    for (i, slot) in self.slots.iter().enumerate() {
                        if i > 0 {
                            self.buf.push(b',');
                        }
                        match *slot {
                            Slot::Id(prefix) => {
                                push_id(&mut self.buf, &mut self.quoter, prefix, row)
                            }
                            Slot::Modelled(j) => match &plain[j][self.codes[j] as usize] {
                                PlainCode::Fixed(b) => self.buf.extend_from_slice(b),
                                PlainCode::Drawn(set) => {
                                    let v = self.decoder.draw(j, set, &mut self.rng).ok_or_else(
                                        || DataError::RuleViolation {
                                            row: row + 1,
                                            what: format!(
                                                "column {:?}: an empty bin",
                                                self.modelled[j].name()
                                            ),
                                        },
                                    )?;
                                    let text = self.modelled[j].format_axis(v);
                                    self.quoter.push(&mut self.buf, &text);
                                }
                            },
                        }
                    }
                }
                None => {
                    let values = self
                        .decoder
                        .decode_record(row, &self.codes, &mut self.rng)?;
                    for (i, slot) in self.slots.iter().enumerate() {
                        if i > 0 {
                            self.buf.push(b',');
                        }
                        match *slot {
                            Slot::Id(prefix) => {
                                push_id(&mut self.buf, &mut self.quoter, prefix, row)
                            }
                            Slot::Modelled(j) => self.quoter.push(&mut self.buf, &values[j]),
                        }
                    }
                }
            }
            self.buf.push(b'\n');
            if self.buf.len() >= WRITE_BUFFER {
                self.flush_buf()?;
            }
        }
        Ok(())
    }

    /// [`CsvChunkWriter::write_chunk`] when every field is a short fixed text: each field
    /// is one 16-byte copy into the buffer (kept zero-filled past its end) and a delimiter.
    fn write_short(&mut self, columns: &[Vec<u32>], n: usize) -> Result<(), DataError> {
        let Some(short) = self.short.take() else {
            return Ok(());
        };
        let width = self.slots.len();
        let order: Vec<usize> = self
            .slots
            .iter()
            .filter_map(|s| match s {
                Slot::Modelled(j) => Some(*j),
                Slot::Id(_) => None,
            })
            .collect();
        // Room for one more record of at most 17 bytes per field past the flushing point.
        let room = WRITE_BUFFER + 17 * width + 16;
        // Each written field's codes and texts, and the buffer, held in locals: read
        // through `self` the loop reloaded them at every field (the buffer's stores might
        // have changed them, as far as the compiler knew).
        let fields: Vec<(&[u32], &[ShortField])> = order
            .iter()
            .map(|&j| (&columns[j][..n], &short[j][..]))
            .collect();
        let mut buf = std::mem::take(&mut self.buf);
        let mut fill = buf.len();
        buf.resize(room, 0);
        let mut result = Ok(());
        if let Some((&(last_codes, last_texts), rest)) = fields.split_last() {
            for r in 0..n {
                for &(codes, texts) in rest {
                    let (bytes, len) = &texts[codes[r] as usize];
                    buf[fill..fill + 16].copy_from_slice(bytes);
                    fill += *len as usize;
                    buf[fill] = b',';
                    fill += 1;
                }
                let (bytes, len) = &last_texts[last_codes[r] as usize];
                buf[fill..fill + 16].copy_from_slice(bytes);
                fill += *len as usize;
                buf[fill] = b'\n';
                fill += 1;
                if fill >= WRITE_BUFFER {
                    result = self.out.write_all(&buf[..fill]);
                    if result.is_err() {
                        break;
                    }
                    fill = 0;
                }
            }
        }
        buf.truncate(fill);
        self.buf = buf;
        self.next += n;
        self.short = Some(short);
        result.map_err(|e| DataError::Write {
            file: self.sink_name.clone(),
            source: e,
        })
    }

    fn flush_buf(&mut self) -> Result<(), DataError> {
        self.out
            .write_all(&self.buf)
            .map_err(|e| DataError::Write {
                file: self.sink_name.clone(),
                source: e,
            })?;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is left and flushes; returns the writer.
    pub fn finish(mut self) -> Result<W, DataError> {
        self.flush_buf()?;
        self.out.flush().map_err(|e| DataError::Write {
            file: self.sink_name.clone(),
            source: e,
        })?;
        Ok(self.out)
    }
}

/// The short-field table of [`CsvChunkWriter`]: `None` unless every slot is modelled and
/// every code of every column has fixed CSV bytes of at most 16.
fn short_codes(
    slots: &[Slot<'_>],
    plain: Option<&[Vec<PlainCode>]>,
) -> Option<Vec<Vec<ShortField>>> {
    if slots.is_empty() || slots.iter().any(|s| matches!(s, Slot::Id(_))) {
        return None;
    }
    plain?
        .iter()
        .map(|codes| {
            codes
                .iter()
                .map(|c| match c {
                    PlainCode::Fixed(b) if b.len() <= 16 => {
                        let mut a = [0u8; 16];
                        a[..b.len()].copy_from_slice(b);
                        Some((a, b.len() as u8))
                    }
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// Appends [`synthetic_id`] without building it as a string (a plain prefix).
fn push_id(buf: &mut Vec<u8>, quoter: &mut Quoter, prefix: Option<&str>, row: usize) {
    let prefix = prefix.unwrap_or("");
    if plain_field(prefix.as_bytes()) {
        buf.extend_from_slice(prefix.as_bytes());
        buf.extend_from_slice(b"SYN-");
        buf.extend_from_slice(itoa::Buffer::new().format(row + 1).as_bytes());
    } else {
        quoter.push(buf, &synthetic_id(Some(prefix), row));
    }
}

/// Whether a field is written as is by the `csv` crate: only bytes that can never need
/// quoting (conservative; anything else goes through the crate itself, [`Quoter`]).
fn plain_field(b: &[u8]) -> bool {
    !b.is_empty()
        && b.iter().all(|&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'+' | b':' | b'/')
        })
}

/// Writes a field the way the `csv` crate writes it inside a record of `width` fields (so an
/// empty field of a one-column table is quoted, as the crate does).
struct Quoter {
    width: usize,
    scratch: Vec<u8>,
}

impl Quoter {
    fn new(width: usize) -> Self {
        Quoter {
            width,
            scratch: Vec::new(),
        }
    }

    fn push(&mut self, buf: &mut Vec<u8>, text: &str) {
        if plain_field(text.as_bytes()) {
            buf.extend_from_slice(text.as_bytes());
            return;
        }
        // The crate's own quoting: the field alone (one-column tables), or followed by a
        // second, plain field that is cut off again.
        self.scratch.clear();
        let mut w = csv::WriterBuilder::new().from_writer(&mut self.scratch);
        let ok = if self.width <= 1 {
            w.write_record([text])
        } else {
            w.write_record([text, "x"])
        };
        drop(w);
        let tail: &[u8] = if self.width <= 1 { b"\n" } else { b",x\n" };
        match ok {
            Ok(()) if self.scratch.ends_with(tail) => {
                buf.extend_from_slice(&self.scratch[..self.scratch.len() - tail.len()])
            }
            // Writing to memory cannot fail; keep the text rather than panic.
            _ => buf.extend_from_slice(text.as_bytes()),
        }
    }
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
