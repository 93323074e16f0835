//! Streaming CSV reading and encoding against the public schema.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::schema::{Cell, CellError, Column, ExtraColumns, Schema};

use super::encoded::{Codes, EncodedTable};
use super::error::{DataError, Location};
use super::problems::ProblemReport;
use super::truncate::{RepeatDetector, UnitInterner};

/// Options for reading. The defaults are what a release run uses.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Skip CSV columns the schema does not name, even if the schema says `extra_columns =
    /// "error"` (the default is to refuse them, naming them).
    pub allow_extra_columns: bool,
    /// How many problems [`check_csv_with`] collects before it stops reading.
    pub max_problems: usize,
    /// The privacy unit's column (an `id` column of the schema): each row's value is
    /// recorded in the table ([`EncodedTable::units`]) for truncation, and a row without one
    /// is an error.
    pub unit_column: Option<String>,
    /// Check every record against the schema's rules and count, per rule, the rows that
    /// break it ([`EncodeReport::rules`]; `schema check --data`). Off in release runs.
    pub check_rules: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            allow_extra_columns: false,
            max_problems: 20,
            check_rules: false,
            unit_column: None,
        }
    }
}

/// What encoding did to one column's cells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnReport {
    pub name: String,
    /// Numbers or dates below the public minimum, clamped to it.
    pub clamped_below: u64,
    /// Numbers or dates above the public maximum, clamped to it.
    pub clamped_above: u64,
    /// Values outside the categorical list, mapped to the declared catch-all.
    pub mapped_to_other: u64,
    /// Missing cells coded as the missing category.
    pub missing: u64,
}

impl ColumnReport {
    /// Counts what encoding did to one cell.
    fn count(&mut self, cell: Cell) {
        match cell {
            Cell::Value(_) => {}
            Cell::ClampedBelow(_) => self.clamped_below += 1,
            Cell::ClampedAbove(_) => self.clamped_above += 1,
            Cell::Other(_) => self.mapped_to_other += 1,
            Cell::Missing(_) => self.missing += 1,
        }
    }

    /// Adds another part's counts (a batch of the same column).
    fn add(&mut self, other: &ColumnReport) {
        self.clamped_below += other.clamped_below;
        self.clamped_above += other.clamped_above;
        self.mapped_to_other += other.mapped_to_other;
        self.missing += other.missing;
    }
}

/// Per-column counts of what encoding changed, for the modelled columns in schema order.
///
/// PRIVATE: these are exact counts over the private data. Show them to the trusted operator
/// only; never log them in a release run, write them into a release, or use them to decide
/// anything that leaves the tool without going through a mechanism.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodeReport {
    pub columns: Vec<ColumnReport>,
    /// `id` columns (other than the privacy unit's) in which some value occurs more than
    /// once: the data may hold several rows per person, so a record-level guarantee may not
    /// be what the operator wants.
    pub repeated_ids: Vec<String>,
    /// With [`ReadOptions::check_rules`]: per rule of the schema, the rows that break it.
    pub rules: Vec<RuleReport>,
}

/// Rows of the data breaking one rule of the schema (PRIVATE, like the rest of the report).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleReport {
    pub rule: String,
    /// Rows that break the rule.
    pub rows: u64,
    /// Rows whose values could not be read back to decide the rule.
    pub undecided: u64,
    /// Where it is first broken (a line of a CSV file, a row of a Parquet file).
    pub first: Option<Location>,
}

impl EncodeReport {
    /// Total clamped cells over all columns.
    pub fn total_clamped(&self) -> u64 {
        self.columns
            .iter()
            .map(|c| c.clamped_below + c.clamped_above)
            .sum()
    }

    /// Total cells mapped to a catch-all over all columns.
    pub fn total_other(&self) -> u64 {
        self.columns.iter().map(|c| c.mapped_to_other).sum()
    }
}

/// Reads and encodes a CSV file with the default options: a table of the schema's modelled
/// columns (in schema order, each in the narrowest code type) and a private report. Stops at
/// the first problem.
pub fn read_csv(path: &Path, schema: &Schema) -> Result<(EncodedTable, EncodeReport), DataError> {
    read_csv_with(path, schema, &ReadOptions::default())
}

/// [`read_csv`] with options.
pub fn read_csv_with(
    path: &Path,
    schema: &Schema,
    opts: &ReadOptions,
) -> Result<(EncodedTable, EncodeReport), DataError> {
    let file = path.display().to_string();
    // Parsed in parallel by blocks when the file allows it (no problem anywhere), else
    // record by record below, which also finds and reports any problem.
    if let Some(out) = read_blocks(path, &file, schema, opts) {
        return Ok(out);
    }
    let f = std::fs::File::open(path).map_err(|e| DataError::Open {
        file: file.clone(),
        source: e,
    })?;
    // A file can move to the parsing thread: the two-thread loop.
    let mut errors = Vec::new();
    let out = run(
        std::io::BufReader::new(f),
        &file,
        schema,
        opts,
        Mode::Encode,
        &mut errors,
        None,
    );
    encoded(out, errors, &file)
}

/// Reads and encodes CSV from any reader; `source_name` names it in messages.
pub fn read_csv_from<R: Read>(
    reader: R,
    source_name: &str,
    schema: &Schema,
    opts: &ReadOptions,
) -> Result<(EncodedTable, EncodeReport), DataError> {
    let mut errors = Vec::new();
    let out = run_single(
        reader,
        source_name,
        schema,
        opts,
        Mode::Encode,
        &mut errors,
        None,
    );
    encoded(out, errors, source_name)
}

/// The result of an encoding pass: its first error, else its table.
fn encoded(
    out: Option<(EncodedTable, EncodeReport)>,
    errors: Vec<DataError>,
    source_name: &str,
) -> Result<(EncodedTable, EncodeReport), DataError> {
    match (out, errors.into_iter().next()) {
        (_, Some(e)) => Err(e),
        (Some(t), None) => Ok(t),
        (None, None) => Err(DataError::Empty {
            file: source_name.to_string(),
        }),
    }
}

/// Checks a CSV file against the schema without keeping it: up to 20 problems (header,
/// malformed rows, cells that cannot be encoded). Empty means the file would encode.
pub fn check_csv(path: &Path, schema: &Schema) -> Vec<DataError> {
    check_csv_with(path, schema, &ReadOptions::default())
}

/// [`check_csv`] with options (e.g. a different `max_problems`).
pub fn check_csv_with(path: &Path, schema: &Schema, opts: &ReadOptions) -> Vec<DataError> {
    let file = path.display().to_string();
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return vec![DataError::Open { file, source: e }],
    };
    let mut errors = Vec::new();
    run(
        std::io::BufReader::new(f),
        &file,
        schema,
        opts,
        Mode::Check,
        &mut errors,
        None,
    );
    errors
}

/// Checks a whole CSV file against the schema, grouping its problems by kind, column and
/// value with counts and first lines (PRIVATE: for the operator only). Empty means the file
/// would encode.
pub fn check_csv_grouped(path: &Path, schema: &Schema, opts: &ReadOptions) -> ProblemReport {
    let file = path.display().to_string();
    let mut report = ProblemReport::default();
    let mut errors = Vec::new();
    match std::fs::File::open(path) {
        Ok(f) => {
            run(
                std::io::BufReader::new(f),
                &file,
                schema,
                opts,
                Mode::Group,
                &mut errors,
                Some(&mut report),
            );
        }
        Err(e) => errors.push(DataError::Open { file, source: e }),
    }
    errors.into_iter().for_each(|e| report.add(e));
    report
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Build the table; stop at the first problem.
    Encode,
    /// Collect up to `max_problems` problems; build nothing.
    Check,
    /// Read the whole file, grouping every problem into a [`ProblemReport`]; build nothing.
    Group,
}

fn malformed(file: &str, e: &csv::Error) -> DataError {
    let line = Location::Line(e.position().map_or(0, |p| p.line()));
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_string(),
        _ => e.to_string(),
    };
    DataError::Malformed {
        file: file.to_string(),
        line,
        message,
    }
}

pub(super) fn cell_error(
    file: &str,
    line: Location,
    col: &Column,
    raw: &str,
    e: CellError,
) -> DataError {
    let (file, column, value) = (file.to_string(), col.name().to_string(), raw.to_string());
    match e {
        CellError::MissingNotAllowed => DataError::MissingValue {
            file,
            line,
            column,
            value,
        },
        CellError::NotInList | CellError::NotModelled => DataError::UnknownValue {
            file,
            line,
            column,
            value,
        },
        CellError::NotANumber => DataError::NotANumber {
            file,
            line,
            column,
            value,
        },
        CellError::NotAnInteger => DataError::NotAnInteger {
            file,
            line,
            column,
            value,
        },
        CellError::NotADate | CellError::NotADateTime => {
            let format = match col.kind() {
                crate::schema::ColumnKind::Date(d) => d.format().to_string(),
                crate::schema::ColumnKind::DateTime(d) => d
                    .format()
                    .unwrap_or("ISO 8601: YYYY-MM-DDTHH:MM or YYYY-MM-DD HH:MM, seconds optional")
                    .to_string(),
                _ => String::new(),
            };
            DataError::NotADate {
                file,
                line,
                column,
                value,
                format,
            }
        }
    }
}

/// The reading loop on the calling thread alone, for readers that cannot move to another
/// thread ([`read_csv_from`]); files go through [`run`], which parses on a second thread.
fn run_single<R: Read>(
    reader: R,
    file: &str,
    schema: &Schema,
    opts: &ReadOptions,
    mode: Mode,
    errors: &mut Vec<DataError>,
    groups: Option<&mut ProblemReport>,
) -> Option<(EncodedTable, EncodeReport)> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .has_headers(true)
        .from_reader(reader);
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(String::from).collect(),
        Err(e) => {
            errors.push(header_error(file, &e));
            return None;
        }
    };
    let mut enc = Encoder::new(file, schema, opts, mode, &header, errors)?.grouping(groups);
    let mut rec = csv::StringRecord::new();
    while !enc.full() {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                if !enc.parse_error(&e) {
                    return None;
                }
                continue;
            }
        }
        if !enc.record(&rec) {
            return None;
        }
    }
    enc.finish()
}

/// The error of a header that cannot be read.
fn header_error(file: &str, e: &csv::Error) -> DataError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        DataError::Open {
            file: file.to_string(),
            source: std::io::Error::new(io.kind(), io.to_string()),
        }
    } else {
        malformed(file, e)
    }
}

/// Records per batch handed from the parsing thread to the encoding thread.
const BATCH: usize = 4096;

/// Bytes the parsing thread reads from the file at a time: the `csv` default (8 KiB) made
/// one `read` call per 8 KiB on the thread that bounds the speed of reading; this stays
/// within a core's L2 cache.
const READ_BUFFER: usize = 128 * 1024;

/// A batch of parsed records, ended early by a parse error when there is one.
type Parsed = (Vec<csv::StringRecord>, Option<csv::Error>);

/// Batches gathered before they are encoded in parallel ([`Encoder::encode_batches`]).
const PARALLEL_BATCHES: usize = 8;

/// One batch's cells encoded on a worker: its codes and report counts, and its first
/// problem (line, modelled column, text, why), after which it stopped.
struct BatchCodes {
    codes: Vec<Codes>,
    /// Per modelled column, what encoding did to the batch's cells (names left empty).
    counts: Vec<ColumnReport>,
    rows: u64,
    problem: Option<(Location, usize, String, CellError)>,
}

impl BatchCodes {
    /// No rows yet: a copy of `empty` (one code column per modelled column) with room for
    /// `rows` codes each, and a zeroed report per column.
    fn with_room(empty: &[Codes], rows: usize) -> Self {
        let mut codes = empty.to_vec();
        codes.iter_mut().for_each(|c| c.reserve(rows));
        BatchCodes {
            codes,
            counts: vec![ColumnReport::default(); empty.len()],
            rows: 0,
            problem: None,
        }
    }
}

/// Parses CSV on one thread and encodes on the calling one: the `csv` parser and the
/// encoder each took about half the time of reading a large file. Records arrive in file
/// order in batches (recycled, so records are not reallocated), with any parse error in
/// its place, so problems are found and reported exactly as a single pass finds them.
fn run<R: Read + Send>(
    reader: R,
    file: &str,
    schema: &Schema,
    opts: &ReadOptions,
    mode: Mode,
    errors: &mut Vec<DataError>,
    groups: Option<&mut ProblemReport>,
) -> Option<(EncodedTable, EncodeReport)> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .has_headers(true)
        .buffer_capacity(READ_BUFFER)
        .from_reader(reader);
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(String::from).collect(),
        Err(e) => {
            errors.push(header_error(file, &e));
            return None;
        }
    };
    let mut enc = Encoder::new(file, schema, opts, mode, &header, errors)?.grouping(groups);
    let parallel = enc.parallel();
    let finished = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Parsed>(4);
        let (back, recycled) = std::sync::mpsc::channel::<Vec<csv::StringRecord>>();
        scope.spawn(move || loop {
            let mut batch = recycled.try_recv().unwrap_or_default();
            let mut filled = 0;
            let mut error = None;
            let mut done = false;
            while filled < BATCH {
                if filled == batch.len() {
                    batch.push(csv::StringRecord::new());
                }
                match rdr.read_record(&mut batch[filled]) {
                    Ok(true) => filled += 1,
                    Ok(false) => {
                        done = true;
                        break;
                    }
                    Err(e) => {
                        // An I/O error ends the file; a malformed row is reported in its place.
                        done = matches!(e.kind(), csv::ErrorKind::Io(_));
                        error = Some(e);
                        break;
                    }
                }
            }
            batch.truncate(filled);
            // A closed channel: the encoder stopped reading.
            if tx.send((batch, error)).is_err() || done {
                return;
            }
        });
        // false: stop without a table (the original single pass returned early there).
        if parallel {
            let mut pending: Vec<Parsed> = Vec::with_capacity(PARALLEL_BATCHES);
            let mut open = true;
            while open {
                match rx.recv() {
                    Ok(p) => {
                        let ends = p.1.is_some();
                        pending.push(p);
                        if pending.len() < PARALLEL_BATCHES && !ends {
                            continue;
                        }
                    }
                    Err(_) => open = false,
                }
                if !enc.encode_batches(&pending) {
                    return false;
                }
                for (batch, _) in pending.drain(..) {
                    let _ = back.send(batch);
                }
            }
            return true;
        }
        while let Ok((batch, error)) = rx.recv() {
            for rec in &batch {
                if enc.full() {
                    return true;
                }
                if !enc.record(rec) {
                    return false;
                }
            }
            if let Some(e) = error {
                if enc.full() {
                    return true;
                }
                if !enc.parse_error(&e) {
                    return false;
                }
            }
            let _ = back.send(batch);
        }
        true
    });
    if !finished {
        return None;
    }
    enc.finish()
}

/// Bytes per block of [`read_blocks`] (each block ends at a record's end).
const BLOCK: usize = 1 << 19;

/// Blocks parsed and encoded at once, one task each.
const BLOCKS_AT_ONCE: usize = 8;

/// Reads a CSV file in blocks that end at a newline, each parsed and encoded on a worker
/// (the `csv` parser on one thread bounded reading: it and the encoders now share every
/// core; the UTF-8 check, a third pass over each record on that thread, moves with it).
/// A block starts at a record's start when no quote precedes it (then every newline ends
/// a record), so the path is taken only for files without a `"` after the header;
/// records are parsed from there by the same `csv` parser (or split to the same fields,
/// [`split_block`]) and encoded by the same [`Memo`]s and [`Column::encode`] as in
/// [`run`], and appended in file order: the same table and report. `None` gives way to
/// [`run`] from the start, which finds and reports problems exactly as before: at
/// anything this path does not handle (a quote, a record longer than a block, a record of
/// another length than the header, invalid UTF-8, a cell that does not encode, an I/O
/// error, no records, options that keep record order).
pub(super) fn read_blocks(
    path: &Path,
    file: &str,
    schema: &Schema,
    opts: &ReadOptions,
) -> Option<(EncodedTable, EncodeReport)> {
    use std::io::{Seek, SeekFrom};
    // The header, and the offset the csv crate's own reader goes on from.
    let (header, start) = {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(false)
            .has_headers(true)
            .from_path(path)
            .ok()?;
        let header: Vec<String> = rdr.headers().ok()?.iter().map(String::from).collect();
        (header, rdr.position().byte())
    };
    let mut errors = Vec::new();
    let mut enc = Encoder::new(file, schema, opts, Mode::Encode, &header, &mut errors)?;
    if !enc.parallel() || !enc.errors.is_empty() {
        return None;
    }
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(SeekFrom::Start(start)).ok()?;
    let width = header.len();
    let finished = std::thread::scope(|scope| {
        // `None`: give way to the record-by-record reader.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Option<Vec<u8>>>(BLOCKS_AT_ONCE / 2);
        let (back, recycled) = std::sync::mpsc::channel::<Vec<u8>>();
        scope.spawn(move || {
            let mut carry: Vec<u8> = Vec::new();
            loop {
                let mut buf = recycled.try_recv().unwrap_or_default();
                buf.clear();
                buf.extend_from_slice(&carry);
                let had = buf.len();
                buf.resize(had.max(BLOCK), 0);
                let (mut filled, mut eof) = (had, false);
                while filled < buf.len() {
                    match f.read(&mut buf[filled..]) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            let _ = tx.send(None);
                            return;
                        }
                    }
                }
                buf.truncate(filled);
                // The carried bytes were checked with the block before.
                if memchr::memchr(b'"', &buf[had..]).is_some() {
                    let _ = tx.send(None);
                    return;
                }
                if !eof {
                    let Some(end) = memchr::memrchr(b'\n', &buf) else {
                        let _ = tx.send(None);
                        return;
                    };
                    carry.clear();
                    carry.extend_from_slice(&buf[end + 1..]);
                    buf.truncate(end + 1);
                }
                if (!buf.is_empty() && tx.send(Some(buf)).is_err()) || eof {
                    return;
                }
            }
        });
        let mut pending: Vec<Vec<u8>> = Vec::with_capacity(BLOCKS_AT_ONCE);
        loop {
            let open = match rx.recv() {
                Ok(Some(b)) => {
                    pending.push(b);
                    if pending.len() < BLOCKS_AT_ONCE {
                        continue;
                    }
                    true
                }
                Ok(None) => return false,
                Err(_) => false,
            };
            if !enc.encode_blocks(&pending, width) {
                return false;
            }
            for b in pending.drain(..) {
                let _ = back.send(b);
            }
            if !open {
                return true;
            }
        }
    });
    if !finished {
        return None;
    }
    let out = enc.finish()?;
    errors.is_empty().then_some(out)
}

/// The header checks of the file readers (duplicates, schema columns missing, columns the
/// schema does not know) for a source whose column names are `header`, e.g. a database
/// table: up to `opts.max_problems` problems, none if the header fits the schema.
pub fn check_header(
    source_name: &str,
    schema: &Schema,
    opts: &ReadOptions,
    header: &[String],
) -> Vec<DataError> {
    let mut errors = Vec::new();
    let _ = Encoder::new(source_name, schema, opts, Mode::Check, header, &mut errors);
    errors
}

/// Encodes rows of any tabular source against the schema: the header checks, the per-cell
/// rules and the report, shared by the CSV and Parquet readers so both follow the same
/// schema rules and give the same errors.
pub(super) struct Encoder<'a> {
    file: &'a str,
    mode: Mode,
    limit: usize,
    pub(super) errors: &'a mut Vec<DataError>,
    /// In [`Mode::Group`], where problems are folded as they come.
    groups: Option<&'a mut ProblemReport>,
    modelled: Vec<&'a Column>,
    /// Source position of each modelled column.
    positions: Vec<Option<usize>>,
    codes: Vec<Codes>,
    report: EncodeReport,
    unit: Option<(&'a Column, usize, UnitInterner)>,
    repeats: Vec<(&'a Column, usize, RepeatDetector)>,
    /// With [`ReadOptions::check_rules`]: the schema's rules, checked on every row.
    rules: Option<crate::schema::rules::CompiledRules>,
    /// Per modelled column, the encodings of texts seen recently.
    memo: Vec<Memo>,
    rows: u64,
}

/// Bits of a [`Memo`]'s slot index (256 slots, 8 KB per column).
const MEMO_BITS: u32 = 8;

/// A column's recent cell texts (up to 15 bytes) and their encodings, in a direct-mapped
/// table: most columns repeat a few texts, whose encoding (trimming, missing tokens, a
/// value lookup or a number parsed and binned) was the larger part of reading a file.
/// [`Column::encode`] is a function of the text alone, so a hit returns what it would;
/// problems are never kept (each is reported by encoding afresh).
#[derive(Clone)]
struct Memo {
    /// Each slot's [`memo_key`] (`u128::MAX`: empty) and encoding.
    slots: Vec<(u128, Cell)>,
}

/// Reads 4 bytes of `b` from `at` (little-endian), in one load.
#[inline(always)]
fn load4(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w) as u64
}

/// Reads 8 bytes of `b` from `at` (little-endian), in one load.
#[inline(always)]
fn load8(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// A text of at most 15 bytes as one `u128`, a one-to-one map: the length in the top byte,
/// the bytes in the rest, read with two overlapping loads whose overlap the length fixes
/// (the usual short-string hashing trick). A few loads in place of a shift per byte: the
/// byte loop, its length-dependent branches mispredicted on columns whose texts are one or
/// two digits at random, was the larger part of encoding adult x 200. `None`: longer.
#[inline(always)]
fn memo_key(b: &[u8]) -> Option<u128> {
    let n = b.len();
    let (lo, hi) = match n {
        0 => (0, 0),
        // Bytes 0, n / 2 and n - 1: all of them for n <= 3.
        1..=3 => (
            b[0] as u64 | (b[n / 2] as u64) << 8 | (b[n - 1] as u64) << 16,
            0,
        ),
        4..=7 => (load4(b, 0) | load4(b, n - 4) << 32, 0),
        // Bytes 0..8, then n - 7..n (the byte at n - 8 is in the first load already).
        8..=15 => (load8(b, 0), load8(b, n - 8) >> 8),
        _ => return None,
    };
    Some(((hi | (n as u64) << 56) as u128) << 64 | lo as u128)
}

impl Memo {
    fn new() -> Self {
        Memo {
            slots: vec![(u128::MAX, Cell::Value(0)); 1 << MEMO_BITS],
        }
    }

    /// The slot of a [`memo_key`] (multiplicative hashing).
    #[inline(always)]
    fn slot_of(key: u128) -> usize {
        (((key as u64) ^ ((key >> 64) as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            >> (64 - MEMO_BITS)) as usize
    }

    #[inline]
    fn encode(&mut self, col: &Column, raw: &str) -> Result<Cell, CellError> {
        let Some(key) = memo_key(raw.as_bytes()) else {
            return col.encode(raw);
        };
        let slot = &mut self.slots[Self::slot_of(key)];
        if slot.0 == key {
            return Ok(slot.1);
        }
        let encoded = col.encode(raw);
        if let Ok(cell) = encoded {
            *slot = (key, cell);
        }
        encoded
    }

    /// [`Memo::encode`] of a field's bytes, checked as UTF-8 only when they are encoded
    /// (a hit's bytes are those of a text encoded before). Invalid UTF-8 is refused as a
    /// text that is not in the list.
    #[inline(always)]
    fn encode_bytes(&mut self, col: &Column, raw: &[u8]) -> Result<Cell, CellError> {
        if let Some(key) = memo_key(raw) {
            let slot = &self.slots[Self::slot_of(key)];
            if slot.0 == key {
                return Ok(slot.1);
            }
        }
        let text = std::str::from_utf8(raw).map_err(|_| CellError::NotInList)?;
        self.encode(col, text)
    }
}

impl<'a> Encoder<'a> {
    /// Encodes one parsed CSV record (the CSV readers' per-row step); `false` when the
    /// problems filled the limit and reading must stop without a table.
    fn record(&mut self, rec: &csv::StringRecord) -> bool {
        let line = Location::Line(rec.position().map_or(0, |p| p.line()));
        self.row(line, |pos| Some(rec.get(pos).unwrap_or("")))
    }

    /// Records a CSV parse error in its place; `false` when reading must stop without a
    /// table (an I/O error ends the file; in [`Mode::Encode`] the first problem is final).
    fn parse_error(&mut self, e: &csv::Error) -> bool {
        let fatal = matches!(e.kind(), csv::ErrorKind::Io(_));
        self.errors.push(malformed(self.file, e));
        !(fatal || self.mode == Mode::Encode)
    }

    /// Checks the header (duplicates, schema columns missing, columns the schema does not
    /// know) and prepares encoding. `None` when the header's problems fill the limit.
    pub(super) fn new(
        file: &'a str,
        schema: &'a Schema,
        opts: &ReadOptions,
        mode: Mode,
        header: &[String],
        errors: &'a mut Vec<DataError>,
    ) -> Option<Self> {
        let limit = match mode {
            Mode::Encode => 1,
            Mode::Check => opts.max_problems.max(1),
            Mode::Group => usize::MAX,
        };
        if header.is_empty() {
            errors.push(DataError::Empty {
                file: file.to_string(),
            });
            return None;
        }
        // A schema column with a `position` claims that header cell when it is unnamed (or
        // carries the column's name).
        let claimed: HashMap<usize, &str> = schema
            .columns()
            .iter()
            .filter_map(|c| {
                let i = c.position()?.checked_sub(1)?;
                let h = header.get(i)?;
                (h.trim().is_empty() || h == c.name()).then_some((i, c.name()))
            })
            .collect();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, h) in header.iter().enumerate() {
            if let Some(name) = claimed.get(&i) {
                index.insert(name, i);
                continue;
            }
            if index.insert(h.as_str(), i).is_some() {
                errors.push(DataError::DuplicateHeader {
                    file: file.to_string(),
                    column: h.clone(),
                });
            }
        }
        // Skipped columns may be absent: they are neither modelled nor written.
        let missing: Vec<String> = schema
            .columns()
            .iter()
            .filter(|c| c.is_written() && !index.contains_key(c.name()))
            .map(|c| c.name().to_string())
            .collect();
        if !missing.is_empty() {
            errors.push(DataError::MissingColumns {
                file: file.to_string(),
                columns: missing,
            });
        }
        let allow_extra =
            opts.allow_extra_columns || schema.extra_columns() == ExtraColumns::Ignore;
        if !allow_extra {
            let extra: Vec<String> = header
                .iter()
                .enumerate()
                .filter(|(i, h)| !claimed.contains_key(i) && schema.column(h).is_none())
                .map(|(_, h)| h)
                .cloned()
                .collect();
            if !extra.is_empty() {
                errors.push(DataError::ExtraColumns {
                    file: file.to_string(),
                    columns: extra,
                });
            }
        }
        // Encoding stops at the first problem (its limit is 1); a check stops once the header
        // alone fills its limit (each duplicated header is its own problem).
        if errors.len() >= limit {
            errors.truncate(limit);
            return None;
        }

        let modelled = schema.modelled();
        let positions: Vec<Option<usize>> = modelled
            .iter()
            .map(|c| index.get(c.name()).copied())
            .collect();
        let codes: Vec<Codes> = modelled
            .iter()
            .map(|c| Codes::with_cardinality(c.cardinality(), 0))
            .collect();
        let mut report = EncodeReport {
            columns: modelled
                .iter()
                .map(|c| ColumnReport {
                    name: c.name().to_string(),
                    ..Default::default()
                })
                .collect(),
            repeated_ids: Vec::new(),
            rules: Vec::new(),
        };
        // The rules, when asked for: compiled once, checked on each record's texts.
        let rules = if opts.check_rules && mode == Mode::Encode && !schema.rules.is_empty() {
            crate::schema::rules::CompiledRules::new(schema).ok()
        } else {
            None
        };
        if let Some(r) = &rules {
            report.rules = r
                .labels()
                .into_iter()
                .map(|rule| RuleReport {
                    rule,
                    rows: 0,
                    undecided: 0,
                    first: None,
                })
                .collect();
        }

        // The privacy unit's values, and repeats in the other id columns (both private).
        let unit = opts.unit_column.as_deref().and_then(|name| {
            let col = schema.column(name)?;
            Some((col, *index.get(name)?, UnitInterner::default()))
        });
        let unit = match (unit, &opts.unit_column) {
            (None, Some(name)) => {
                errors.push(DataError::NoUnitColumn {
                    file: file.to_string(),
                    column: name.clone(),
                });
                return None;
            }
            (u, _) => u,
        };
        let modelled_len = modelled.len();
        let repeats: Vec<(&Column, usize, RepeatDetector)> = schema
            .columns()
            .iter()
            .filter(|c| matches!(c.kind(), crate::schema::ColumnKind::Id { .. }))
            .filter(|c| Some(c.name()) != opts.unit_column.as_deref())
            .filter_map(|c| Some((c, *index.get(c.name())?, RepeatDetector::default())))
            .collect();
        Some(Encoder {
            file,
            mode,
            limit,
            errors,
            groups: None,
            modelled,
            positions,
            codes,
            report,
            unit,
            repeats,
            rules,
            memo: (0..modelled_len).map(|_| Memo::new()).collect(),
            rows: 0,
        })
    }

    /// Whether records may be encoded in parallel batches: a plain encoding pass, where
    /// each cell's code depends on its text alone (no privacy unit, id repeats or rules
    /// kept in record order) and the first problem ends it.
    fn parallel(&self) -> bool {
        self.mode == Mode::Encode
            && self.unit.is_none()
            && self.repeats.is_empty()
            && self.rules.is_none()
            && self.groups.is_none()
            && rayon::current_num_threads() > 1
    }

    /// One empty code column per modelled column: what a batch's codes start from
    /// ([`BatchCodes::with_room`]).
    fn empty_codes(&self) -> Vec<Codes> {
        self.modelled
            .iter()
            .map(|c| Codes::with_cardinality(c.cardinality(), 0))
            .collect()
    }

    /// Encodes parsed batches in parallel (the CSV parser fills the next ones meanwhile)
    /// and appends them in file order; the first problem in file order (a cell, or a
    /// batch's parse error after its records) ends reading as the record-by-record loop
    /// does. `false` when reading must stop without a table.
    fn encode_batches(&mut self, batches: &[Parsed]) -> bool {
        use rayon::prelude::*;
        let (modelled, positions) = (&self.modelled, &self.positions);
        let empty = self.empty_codes();
        let memo = &self.memo;
        let done: Vec<BatchCodes> = batches
            .par_iter()
            .map_init(
                || memo.clone(),
                |memo, (batch, _)| {
                    let mut out = BatchCodes::with_room(&empty, batch.len());
                    'records: for rec in batch {
                        out.rows += 1;
                        for (j, col) in modelled.iter().enumerate() {
                            let Some(pos) = positions[j] else {
                                continue;
                            };
                            let raw = rec.get(pos).unwrap_or("");
                            match memo[j].encode(col, raw) {
                                Ok(cell) => {
                                    out.counts[j].count(cell);
                                    out.codes[j].push(cell.code());
                                }
                                Err(e) => {
                                    let line =
                                        Location::Line(rec.position().map_or(0, |p| p.line()));
                                    out.problem = Some((line, j, raw.to_string(), e));
                                    break 'records;
                                }
                            }
                        }
                    }
                    out
                },
            )
            .collect();
        for (out, (_, parse_error)) in done.into_iter().zip(batches) {
            self.rows += out.rows;
            if let Some((line, j, raw, e)) = out.problem {
                let col = self.modelled[j];
                self.errors.push(cell_error(self.file, line, col, &raw, e));
                return false;
            }
            for (dst, src) in self.codes.iter_mut().zip(&out.codes) {
                dst.append(src);
            }
            for (r, c) in self.report.columns.iter_mut().zip(&out.counts) {
                r.add(c);
            }
            if let Some(e) = parse_error {
                if !self.parse_error(e) {
                    return false;
                }
            }
        }
        true
    }

    /// [`Encoder::encode_batches`] for [`read_blocks`]: each block (whole records of
    /// `width` fields, starting at a record's start) parsed ([`encode_block`]) and encoded
    /// on a worker; appended in file order. `false` at anything [`read_blocks`] gives way
    /// on (nothing is appended then).
    fn encode_blocks(&mut self, blocks: &[Vec<u8>], width: usize) -> bool {
        use rayon::prelude::*;
        let empty = self.empty_codes();
        let layout = BlockLayout {
            modelled: &self.modelled,
            positions: &self.positions,
            empty: &empty,
            width,
        };
        let memo = &self.memo;
        let done: Option<Vec<BatchCodes>> = blocks
            .par_iter()
            .map_init(
                || (memo.clone(), Vec::new()),
                |(memo, starts), block| encode_block(block, &layout, memo, starts),
            )
            .collect();
        let Some(done) = done else {
            return false;
        };
        for out in done {
            self.rows += out.rows;
            for (dst, src) in self.codes.iter_mut().zip(&out.codes) {
                dst.append(src);
            }
            for (r, c) in self.report.columns.iter_mut().zip(&out.counts) {
                r.add(c);
            }
        }
        true
    }

    /// Folds problems into `groups` as they come ([`Mode::Group`] reads the whole source).
    pub(super) fn grouping(mut self, groups: Option<&'a mut ProblemReport>) -> Self {
        self.groups = groups;
        self
    }

    /// Whether the problems found fill the limit (reading stops).
    pub(super) fn full(&mut self) -> bool {
        if let Some(g) = self.groups.as_deref_mut() {
            self.errors.drain(..).for_each(|e| g.add(e));
        }
        self.errors.len() >= self.limit
    }

    /// Source positions the encoder reads (modelled, unit and other id columns), so that a
    /// columnar reader can skip the rest.
    pub(super) fn needed_positions(&self) -> Vec<usize> {
        let mut p: Vec<usize> = self.positions.iter().flatten().copied().collect();
        p.extend(self.unit.iter().map(|(_, pos, _)| *pos));
        p.extend(self.repeats.iter().map(|(_, pos, _)| *pos));
        p.sort_unstable();
        p.dedup();
        p
    }

    /// The modelled column read at each of `n` source positions, if any (a typed reader
    /// formats dates and timestamps for it).
    pub(super) fn column_at(&self, n: usize) -> Vec<Option<&'a Column>> {
        let mut at = vec![None; n];
        for (col, pos) in self.modelled.iter().zip(&self.positions) {
            if let Some(slot) = pos.and_then(|p| at.get_mut(p)) {
                *slot = Some(*col);
            }
        }
        at
    }

    /// Encodes one row; `cell(pos)` gives the text at a source position, `None` for a null
    /// (a typed source's missing value). Returns false when reading must stop.
    pub(super) fn row<'r>(
        &mut self,
        at: Location,
        cell: impl Fn(usize) -> Option<&'r str>,
    ) -> bool {
        self.rows += 1;
        let file = self.file;
        if let Some((col, pos, interner)) = &mut self.unit {
            match cell(*pos) {
                Some(raw) if !(col.is_missing(raw) || col.is_missing(raw.trim())) => {
                    interner.push(raw.trim())
                }
                _ => {
                    self.errors.push(DataError::MissingUnit {
                        file: file.to_string(),
                        line: at,
                        column: col.name().to_string(),
                    });
                    if self.mode == Mode::Encode || self.errors.len() >= self.limit {
                        return false;
                    }
                }
            }
        }
        for (_, pos, detector) in &mut self.repeats {
            if let Some(raw) = cell(*pos) {
                detector.push(raw.trim());
            }
        }
        if let Some(r) = &self.rules {
            let texts: Vec<&str> = self
                .positions
                .iter()
                .map(|p| p.and_then(&cell).unwrap_or(""))
                .collect();
            match r.broken_by(&texts) {
                Ok(broken) => {
                    for i in broken {
                        let rr = &mut self.report.rules[i];
                        rr.rows += 1;
                        rr.first.get_or_insert(at);
                    }
                }
                Err(_) => self
                    .report
                    .rules
                    .iter_mut()
                    .for_each(|rr| rr.undecided += 1),
            }
        }
        for (j, col) in self.modelled.iter().enumerate() {
            let Some(pos) = self.positions[j] else {
                continue;
            };
            let raw = cell(pos);
            let encoded = match raw {
                Some(raw) => self.memo[j].encode(col, raw),
                None => match col.missing_code() {
                    Some(c) => Ok(Cell::Missing(c)),
                    None => Err(CellError::MissingNotAllowed),
                },
            };
            match encoded {
                Ok(cell) => {
                    self.report.columns[j].count(cell);
                    if self.mode == Mode::Encode {
                        self.codes[j].push(cell.code());
                    }
                }
                Err(e) => {
                    self.errors
                        .push(cell_error(file, at, col, raw.unwrap_or(NULL), e));
                    if self.mode == Mode::Encode || self.errors.len() >= self.limit {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// The table and report (in encode mode, when no problem was found).
    pub(super) fn finish(self) -> Option<(EncodedTable, EncodeReport)> {
        let file = self.file;
        let grouped = self.groups.as_deref().is_some_and(|g| !g.is_empty());
        if self.rows == 0 && self.errors.is_empty() && !grouped {
            self.errors.push(DataError::NoRows {
                file: file.to_string(),
            });
            return None;
        }
        if self.mode != Mode::Encode || !self.errors.is_empty() {
            return None;
        }
        let mut report = self.report;
        report.repeated_ids = self
            .repeats
            .iter()
            .filter(|(_, _, d)| d.repeated())
            .map(|(c, _, _)| c.name().to_string())
            .collect();
        let names = self.modelled.iter().map(|c| c.name().to_string()).collect();
        let cards = self.modelled.iter().map(|c| c.cardinality()).collect();
        let table = EncodedTable::new(names, cards, self.codes).and_then(|t| match self.unit {
            Some((_, _, interner)) => t.with_units(interner.finish()),
            None => Some(t),
        });
        match table {
            Some(t) => Some((t, report)),
            None => {
                self.errors.push(DataError::Malformed {
                    file: file.to_string(),
                    line: Location::Line(0),
                    message: "internal error: encoded columns differ in length".into(),
                });
                None
            }
        }
    }
}

/// What encoding a block of [`read_blocks`] needs besides its bytes and the [`Memo`]s.
struct BlockLayout<'l, 'a> {
    modelled: &'l [&'a Column],
    /// Source position of each modelled column.
    positions: &'l [Option<usize>],
    /// One empty code column per modelled column ([`BatchCodes::with_room`]).
    empty: &'l [Codes],
    /// Fields in every record (the header's).
    width: usize,
}

impl BlockLayout<'_, '_> {
    /// Encodes one record's modelled fields into `out` (`field(pos)`: the bytes at source
    /// position `pos`), the step both block parsers share. `None` at a missing field or a
    /// cell that does not encode.
    #[inline(always)]
    fn encode_record<'f>(
        &self,
        memo: &mut [Memo],
        out: &mut BatchCodes,
        field: impl Fn(usize) -> Option<&'f [u8]>,
    ) -> Option<()> {
        out.rows += 1;
        for (j, col) in self.modelled.iter().enumerate() {
            let Some(pos) = self.positions[j] else {
                continue;
            };
            let cell = memo[j].encode_bytes(col, field(pos)?).ok()?;
            out.counts[j].count(cell);
            out.codes[j].push(cell.code());
        }
        Some(())
    }

    /// [`BlockLayout::encode_record`] of `records` records of a split segment, one column
    /// at a time (record `r`'s field `pos` is `seg[starts[r * width + pos]..starts[r *
    /// width + pos + 1] - 1]`): the same codes, counts and `None`, but each column's
    /// [`Memo`] (8 KB) stays in the core's cache for a whole segment, where record by
    /// record every column's memo was read in turn (120 KB for adult's 15).
    #[inline(never)]
    fn encode_columns(
        &self,
        memo: &mut [Memo],
        out: &mut BatchCodes,
        seg: &[u8],
        starts: &[u32],
        records: usize,
    ) -> Option<()> {
        let width = self.width;
        if records * width + 1 > starts.len() {
            return None;
        }
        for (j, col) in self.modelled.iter().enumerate() {
            let Some(pos) = self.positions[j] else {
                continue;
            };
            let (memo, counts) = (&mut memo[j], &mut out.counts[j]);
            // One loop per code width (the width is the column's, not the cell's).
            let fields = (0..records).map(|r| {
                let at = r * width + pos;
                &seg[starts[at] as usize..starts[at + 1] as usize - 1]
            });
            match &mut out.codes[j] {
                Codes::U8(v) => encode_into(v, fields, col, memo, counts, |c| c as u8)?,
                Codes::U16(v) => encode_into(v, fields, col, memo, counts, |c| c as u16)?,
                Codes::U32(v) => encode_into(v, fields, col, memo, counts, |c| c)?,
            }
        }
        out.rows += records as u64;
        Some(())
    }
}

/// Encodes `fields` of column `col` onto `codes` (each code narrowed by `narrow`, which
/// the column's cardinality allows), counting what encoding did in `counts`. `None` at a
/// cell that does not encode.
#[inline(always)]
fn encode_into<'f, T>(
    codes: &mut Vec<T>,
    fields: impl ExactSizeIterator<Item = &'f [u8]>,
    col: &Column,
    memo: &mut Memo,
    counts: &mut ColumnReport,
    narrow: impl Fn(u32) -> T,
) -> Option<()> {
    codes.reserve(fields.len());
    for raw in fields {
        let cell = memo.encode_bytes(col, raw).ok()?;
        counts.count(cell);
        codes.push(narrow(cell.code()));
    }
    Some(())
}

/// Bytes of a segment of [`split_block`]: its field starts ([`u32`] each, up to one per
/// byte) stay in the core's cache between being written and read.
const SEGMENT: usize = 32 << 10;

/// Parses and encodes one block of [`read_blocks`]: by [`split_block`] when it is ASCII
/// and has no `\r` or `"` (then its records are lines of `,`-separated fields), else, or
/// at a blank line, by [`parse_block`]; the same codes, counts and `None`s either way.
fn encode_block(
    block: &[u8],
    layout: &BlockLayout,
    memo: &mut [Memo],
    starts: &mut Vec<u32>,
) -> Option<BatchCodes> {
    // Field starts are u32 (blocks are about BLOCK bytes). A `"` never comes here
    // (read_blocks gives way at one), but is checked with `\r` at no cost: quoted fields
    // would split differently.
    let plain = layout.width > 0
        && block.len() < u32::MAX as usize / 2
        && block.is_ascii()
        && memchr::memchr2(b'\r', b'"', block).is_none();
    if plain {
        if let Ok(out) = split_block(block, layout, SEGMENT, memo, starts) {
            return out;
        }
    }
    parse_block(block, layout, memo)
}

/// A block parsed by the `csv` crate (as configured here: `,`, any of `\r`, `\n`, `\r\n`
/// ending a record, blank lines skipped, a UTF-8 byte-order mark at the start dropped),
/// checked as UTF-8 as its `StringRecord` does, and encoded. `None` at a record of another
/// length than `width`, invalid UTF-8 or a cell that does not encode.
fn parse_block(block: &[u8], layout: &BlockLayout, memo: &mut [Memo]) -> Option<BatchCodes> {
    // About 32 bytes a record reserved; codes grow if records are shorter.
    let mut out = BatchCodes::with_room(layout.empty, block.len() / 32);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(block);
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => return None,
        }
        let utf8 = rec.as_slice().is_ascii() || rec.iter().all(|f| std::str::from_utf8(f).is_ok());
        if rec.len() != layout.width || !utf8 {
            return None;
        }
        layout.encode_record(memo, &mut out, |pos| rec.get(pos))?;
    }
    Some(out)
}

/// A blank line in a block for [`split_block`]: the `csv` crate skips it, the splitter
/// gives the block to [`parse_block`] (blank lines are rare; skipping them here would cost
/// a check per record).
#[derive(Debug)]
struct BlankLine;

/// High bit of each byte of `w` that equals `c`, exactly: no byte's sum carries into the
/// next (at most 0x7f + 0x7f), unlike the usual zero-byte test, whose borrows flag bytes
/// above a match (every set bit is taken as a separator here).
#[inline(always)]
fn bytes_equal(w: u64, c: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = w ^ (c as u64).wrapping_mul(0x0101_0101_0101_0101);
    !(((x & LOW7) + LOW7) | x) & !LOW7
}

/// [`parse_block`] for a block that is ASCII, has no `\r` and (as every block of
/// [`read_blocks`]) no `"`: there the `csv` crate's records are the lines (the last may
/// lack its `\n`) and their fields are split at each `,`, so this gives the same records,
/// codes, counts and `None`s. The `csv` crate's byte-at-a-time state machine was about 9%
/// of `synth` on adult x 200, whose fields are two bytes on average, so a branch per field
/// mispredicts: here the separators (`,` and `\n`) of a segment of whole lines are found 8
/// bytes at a time and the start of the field after each written out without a branch per
/// field; a record is then `width` separators, the last a `\n` (checked, with the count of
/// `\n`s, so that no line has another number of fields). `segment`: bytes split at once
/// (see [`SEGMENT`]); `starts`: a buffer kept between blocks.
fn split_block(
    block: &[u8],
    layout: &BlockLayout,
    segment: usize,
    memo: &mut [Memo],
    starts: &mut Vec<u32>,
) -> Result<Option<BatchCodes>, BlankLine> {
    let width = layout.width;
    let mut out = BatchCodes::with_room(layout.empty, block.len() / 32);
    let mut from = 0;
    while from < block.len() {
        // Segments end after a `\n` (or at the block's end).
        let cut = (from + segment.max(1)).min(block.len());
        let to = match memchr::memrchr(b'\n', &block[from..cut]) {
            Some(k) => from + k + 1,
            None => memchr::memchr(b'\n', &block[cut..]).map_or(block.len(), |k| cut + k + 1),
        };
        let seg = &block[from..to];
        from = to;
        // Every byte may be a separator, and each word writes 8 starts.
        if starts.len() < seg.len() + 18 {
            starts.resize(seg.len() + 18, 0);
        }
        starts[0] = 0;
        let mut n = 1;
        let (mut newlines, mut blank, mut prev) = (0, 0, 1u64 << 63);
        for at in (0..seg.len()).step_by(8) {
            let w = if at + 8 <= seg.len() {
                load8(seg, at)
            } else {
                let mut tail = [0u8; 8];
                tail[..seg.len() - at].copy_from_slice(&seg[at..]);
                u64::from_le_bytes(tail)
            };
            let nl = bytes_equal(w, b'\n');
            // A `\n` right after a `\n` (or at the segment's start) ends a blank line.
            blank |= nl & (nl << 8 | prev >> 56);
            prev = nl;
            newlines += nl.count_ones() as usize;
            let mut seps = bytes_equal(w, b',') | nl;
            let count = seps.count_ones() as usize;
            // All 8 written (those past `count` are overwritten next): a fixed loop, not a
            // branch per separator.
            for s in &mut starts[n..n + 8] {
                *s = at as u32 + (seps.trailing_zeros() >> 3) + 1;
                seps &= seps.wrapping_sub(1);
            }
            n += count;
        }
        if blank != 0 {
            return Err(BlankLine);
        }
        let mut lines = newlines;
        if seg.last() != Some(&b'\n') {
            // The last record, without its `\n`: as if one followed.
            starts[n] = seg.len() as u32 + 1;
            n += 1;
            lines += 1;
        }
        if n - 1 != lines * width {
            return Ok(None);
        }
        // The first `newlines` records each end at a `\n`: then these are all the `\n`s,
        // and every other separator is a `,`.
        let records = lines;
        for r in 0..newlines.min(records) {
            if seg[starts[(r + 1) * width] as usize - 1] != b'\n' {
                return Ok(None);
            }
        }
        if layout
            .encode_columns(memo, &mut out, seg, &starts[..n], records)
            .is_none()
        {
            return Ok(None);
        }
    }
    Ok(Some(out))
}

/// How a null cell of a typed source (Parquet, SQL) is quoted in messages.
pub(super) const NULL: &str = "NULL";

#[cfg(test)]
mod memo_tests {
    use super::memo_key;
    use std::collections::HashMap;

    /// Different texts never share a key: every text of up to 15 bytes that differs from a
    /// base text in one byte (each position, several values) or in length, and some random.
    #[test]
    fn memo_keys_are_one_to_one() {
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for n in 0..=15usize {
            let base: Vec<u8> = (0..n).map(|i| b'0' + i as u8).collect();
            texts.push(base.clone());
            for i in 0..n {
                for v in [0u8, 1, b'0', b'9', 0x80, 0xff] {
                    let mut t = base.clone();
                    t[i] = v;
                    texts.push(t);
                }
            }
            texts.push(vec![0; n]);
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 16) as usize;
            texts.push((0..n).map(|i| (x >> (i % 8 * 8)) as u8 % 4).collect());
        }
        let mut seen: HashMap<u128, Vec<u8>> = HashMap::new();
        for t in texts {
            let k = memo_key(&t).expect("at most 15 bytes");
            assert_ne!(k, u128::MAX, "the empty slot's marker");
            if let Some(other) = seen.insert(k, t.clone()) {
                assert_eq!(other, t, "two texts share a key");
            }
        }
        assert_eq!(memo_key(&[b'a'; 16]), None);
    }
}

#[cfg(test)]
mod block_tests {
    use super::*;
    use proptest::prelude::*;

    /// The plain schema of the reader tests (no ids, units or rules: parallel batches).
    use crate::data::tests::PLAIN as SCHEMA;

    /// Texts that encode in each column of [`SCHEMA`] (some clamped, mapped to the
    /// catch-all or missing), texts for the other fields, and texts that do not encode or
    /// that the splitter does not take (non-ASCII, a quote).
    const GOOD: [&[&str]; 3] = [
        &["F", "M"],
        &[
            "A",
            "B",
            "",
            "C",
            " A",
            "Other",
            "a-ward-longer-than-fifteen-bytes",
        ],
        &["0", "5", "99", "150", "-3", " 7", "12"],
    ];
    const ANY: &[&str] = &["", " ", "a", "b c", "1", "12", "F", "x y z", "0.5", "-3"];
    const BAD: &[&str] = &["x", "Zé", "F\"", "1.5.5"];

    /// Codes, counts and rows of a block's encoding, to compare.
    type Outcome = Option<(u64, Vec<Codes>, Vec<ColumnReport>)>;

    fn outcome(out: Option<BatchCodes>) -> Outcome {
        out.map(|o| (o.rows, o.codes, o.counts))
    }

    struct Fixture {
        schema: Schema,
    }

    impl Fixture {
        fn new() -> Self {
            let schema = Schema::from_toml_str(SCHEMA, "s.toml").unwrap_or_else(|e| panic!("{e}"));
            Fixture { schema }
        }

        fn memo(&self) -> Vec<Memo> {
            (0..self.schema.modelled().len())
                .map(|_| Memo::new())
                .collect()
        }

        /// The splitter (`segment` bytes at a time; `Err` at a blank line), the dispatch
        /// of [`encode_block`] and the `csv` crate's parse of one block.
        fn encode(
            &self,
            block: &[u8],
            width: usize,
            positions: &[Option<usize>],
            segment: usize,
        ) -> (Result<Outcome, BlankLine>, Outcome, Outcome) {
            let modelled = self.schema.modelled();
            let empty: Vec<Codes> = modelled
                .iter()
                .map(|c| Codes::with_cardinality(c.cardinality(), 0))
                .collect();
            let layout = BlockLayout {
                modelled: &modelled,
                positions,
                empty: &empty,
                width,
            };
            let mut starts = Vec::new();
            let split =
                split_block(block, &layout, segment, &mut self.memo(), &mut starts).map(outcome);
            let either = outcome(encode_block(block, &layout, &mut self.memo(), &mut starts));
            let parsed = outcome(parse_block(block, &layout, &mut self.memo()));
            (split, either, parsed)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Random quote-free blocks: the splitter gives the `csv` crate's codes, counts and
        /// `None`s (a record of another length, a cell that does not encode) on ASCII
        /// blocks without `\r`, whatever the segment size, empty fields, spaces or a last
        /// line without `\n`; it gives way only at a blank line, and [`encode_block`]
        /// gives the `csv` crate's result on every block (`\r\n`, non-ASCII, quotes).
        #[test]
        fn split_block_gives_the_csv_crates_records(
            width in 1usize..6,
            picks in proptest::collection::vec(0usize..7, 3),
            lines in proptest::collection::vec(
                (proptest::collection::vec(0usize..1000, 0..8), 0usize..1000),
                0..40,
            ),
            newline_at_end in any::<bool>(),
            segment in 1usize..80,
        ) {
            let fx = Fixture::new();
            // Each modelled column at a position, or absent.
            let positions: Vec<Option<usize>> =
                picks.iter().map(|&p| (p < width).then_some(p)).collect();
            let mut text = String::new();
            for (i, (tokens, kind)) in lines.iter().enumerate() {
                if i > 0 {
                    text.push_str(if *kind < 15 { "\r\n" } else { "\n" });
                }
                if *kind < 10 {
                    continue; // a blank line
                }
                let fields = if *kind < 40 { tokens.len() } else { width };
                let row: Vec<&str> = (0..fields)
                    .map(|p| {
                        let t = tokens.get(p).copied().unwrap_or(p * 37 + kind);
                        match positions.iter().position(|&q| q == Some(p)) {
                            _ if t < 4 => BAD[t],
                            Some(j) => GOOD[j][t % GOOD[j].len()],
                            None => ANY[t % ANY.len()],
                        }
                    })
                    .collect();
                text.push_str(&row.join(","));
            }
            if newline_at_end && !text.is_empty() {
                text.push('\n');
            }
            let block = text.as_bytes();
            let (split, either, parsed) = fx.encode(block, width, &positions, segment);
            prop_assert_eq!(&either, &parsed, "{:?}", text);
            let plain = block.is_ascii() && !block.contains(&b'\r') && !block.contains(&b'"');
            if plain {
                match split {
                    Ok(split) => prop_assert_eq!(&split, &parsed, "{:?}", text),
                    Err(BlankLine) => prop_assert!(
                        block.starts_with(b"\n") || text.contains("\n\n"),
                        "{:?}",
                        text
                    ),
                }
            }
        }
    }

    /// A large ASCII block (many segments, a last line without `\n`): split, not parsed,
    /// to the `csv` crate's codes and counts; a line of another length anywhere, or a cell
    /// that does not encode, gives `None` as the `csv` crate's parse does.
    #[test]
    fn split_block_reads_a_large_block_as_the_csv_crate() {
        let fx = Fixture::new();
        let lines: Vec<String> = (0..40_000)
            .map(|i| {
                let ward = GOOD[1][(i / 3) % GOOD[1].len()];
                format!("{i},{},{ward},{}", ["F", "M"][i % 2], (i * 7) % 130)
            })
            .collect();
        let positions = [Some(1), Some(2), Some(3)];
        let text = lines.join("\n");
        let (split, either, parsed) = fx.encode(text.as_bytes(), 4, &positions, SEGMENT);
        assert!(text.len() > 20 * SEGMENT);
        assert_eq!(parsed.as_ref().map(|p| p.0), Some(40_000));
        assert_eq!(split.unwrap(), parsed);
        assert_eq!(either, parsed);
        for (at, line) in [(25_000, "1,F,A"), (39_999, "1,F,A,5,"), (0, "1,X,A,5")] {
            let mut changed = lines.clone();
            changed[at] = line.into();
            let text = changed.join("\n") + "\n";
            let (split, either, parsed) = fx.encode(text.as_bytes(), 4, &positions, SEGMENT);
            assert_eq!(parsed, None, "{line}");
            assert_eq!(split.unwrap(), None, "{line}");
            assert_eq!(either, None, "{line}");
        }
    }

    /// The byte test finds exactly the bytes equal to the one asked for, in any word.
    #[test]
    fn bytes_equal_is_exact() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..100_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Words rich in the bytes next to the one asked for (borrows and carries).
            let w = if i % 2 == 0 {
                x
            } else {
                u64::from_le_bytes(x.to_le_bytes().map(|b| b',' - 1 + b % 3))
            };
            for c in [b',', b'\n', 0, 0x80, 0xff] {
                let want = w
                    .to_le_bytes()
                    .iter()
                    .enumerate()
                    .filter(|(_, &b)| b == c)
                    .fold(0u64, |m, (k, _)| m | 0x80 << (8 * k));
                assert_eq!(bytes_equal(w, c), want, "{w:#x} {c}");
            }
        }
    }
}
