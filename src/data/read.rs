//! Streaming CSV reading and encoding against the public schema.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::schema::{Cell, CellError, Column, ExtraColumns, Schema};

use super::encoded::{Codes, EncodedTable};
use super::error::DataError;
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
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            allow_extra_columns: false,
            max_problems: 20,
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
    let f = std::fs::File::open(path).map_err(|e| DataError::Open {
        file: file.clone(),
        source: e,
    })?;
    read_csv_from(std::io::BufReader::new(f), &file, schema, opts)
}

/// Reads and encodes CSV from any reader; `source_name` names it in messages.
pub fn read_csv_from<R: Read>(
    reader: R,
    source_name: &str,
    schema: &Schema,
    opts: &ReadOptions,
) -> Result<(EncodedTable, EncodeReport), DataError> {
    let mut errors = Vec::new();
    let out = run(
        reader,
        source_name,
        schema,
        opts,
        Mode::Encode,
        &mut errors,
        None,
    );
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
enum Mode {
    /// Build the table; stop at the first problem.
    Encode,
    /// Collect up to `max_problems` problems; build nothing.
    Check,
    /// Read the whole file, grouping every problem into a [`ProblemReport`]; build nothing.
    Group,
}

fn malformed(file: &str, e: &csv::Error) -> DataError {
    let line = e.position().map_or(0, |p| p.line());
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

fn cell_error(file: &str, line: u64, col: &Column, raw: &str, e: CellError) -> DataError {
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

fn run<R: Read>(
    reader: R,
    file: &str,
    schema: &Schema,
    opts: &ReadOptions,
    mode: Mode,
    errors: &mut Vec<DataError>,
    mut groups: Option<&mut ProblemReport>,
) -> Option<(EncodedTable, EncodeReport)> {
    let limit = match mode {
        Mode::Encode => 1,
        Mode::Check => opts.max_problems.max(1),
        Mode::Group => usize::MAX,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .has_headers(true)
        .from_reader(reader);
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(String::from).collect(),
        Err(e) => {
            if let csv::ErrorKind::Io(io) = e.kind() {
                errors.push(DataError::Open {
                    file: file.to_string(),
                    source: std::io::Error::new(io.kind(), io.to_string()),
                });
            } else {
                errors.push(malformed(file, &e));
            }
            return None;
        }
    };
    if header.is_empty() {
        errors.push(DataError::Empty {
            file: file.to_string(),
        });
        return None;
    }

    // Header checks: duplicates, schema columns missing, columns the schema does not know.
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
    let allow_extra = opts.allow_extra_columns || schema.extra_columns() == ExtraColumns::Ignore;
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
    let mut codes: Vec<Codes> = modelled
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
    };

    // The privacy unit's values, and repeats in the other id columns (both private).
    let unit = opts.unit_column.as_deref().and_then(|name| {
        let col = schema.column(name)?;
        Some((col, *index.get(name)?, UnitInterner::default()))
    });
    let mut unit = match (unit, &opts.unit_column) {
        (None, Some(name)) => {
            errors.push(DataError::NoUnitColumn {
                file: file.to_string(),
                column: name.clone(),
            });
            return None;
        }
        (u, _) => u,
    };
    let mut repeats: Vec<(&Column, usize, RepeatDetector)> = schema
        .columns()
        .iter()
        .filter(|c| matches!(c.kind(), crate::schema::ColumnKind::Id { .. }))
        .filter(|c| Some(c.name()) != opts.unit_column.as_deref())
        .filter_map(|c| Some((c, *index.get(c.name())?, RepeatDetector::default())))
        .collect();

    let mut rec = csv::StringRecord::new();
    let mut rows = 0u64;
    while errors.len() < limit {
        if let Some(g) = groups.as_deref_mut() {
            // Grouping reads the whole file; fold problems as they come.
            errors.drain(..).for_each(|e| g.add(e));
        }
        match rdr.read_record(&mut rec) {
            Ok(true) => rows += 1,
            Ok(false) => break,
            Err(e) => {
                let fatal = matches!(e.kind(), csv::ErrorKind::Io(_));
                errors.push(malformed(file, &e));
                if fatal || mode == Mode::Encode {
                    return None;
                }
                continue;
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
        if let Some((col, pos, interner)) = &mut unit {
            let raw = rec.get(*pos).unwrap_or("");
            if col.is_missing(raw) || col.is_missing(raw.trim()) {
                errors.push(DataError::MissingUnit {
                    file: file.to_string(),
                    line,
                    column: col.name().to_string(),
                });
                if mode == Mode::Encode || errors.len() >= limit {
                    return None;
                }
            } else {
                interner.push(raw.trim());
            }
        }
        for (_, pos, detector) in &mut repeats {
            detector.push(rec.get(*pos).unwrap_or("").trim());
        }
        for (j, col) in modelled.iter().enumerate() {
            let Some(pos) = positions[j] else { continue };
            let raw = rec.get(pos).unwrap_or("");
            match col.encode(raw) {
                Ok(cell) => {
                    let r = &mut report.columns[j];
                    match cell {
                        Cell::Value(_) => {}
                        Cell::ClampedBelow(_) => r.clamped_below += 1,
                        Cell::ClampedAbove(_) => r.clamped_above += 1,
                        Cell::Other(_) => r.mapped_to_other += 1,
                        Cell::Missing(_) => r.missing += 1,
                    }
                    if mode == Mode::Encode {
                        codes[j].push(cell.code());
                    }
                }
                Err(e) => {
                    errors.push(cell_error(file, line, col, raw, e));
                    if mode == Mode::Encode || errors.len() >= limit {
                        return None;
                    }
                }
            }
        }
    }
    if rows == 0 && errors.is_empty() && groups.is_none_or(|g| g.is_empty()) {
        errors.push(DataError::NoRows {
            file: file.to_string(),
        });
        return None;
    }
    if mode != Mode::Encode {
        return None;
    }
    report.repeated_ids = repeats
        .iter()
        .filter(|(_, _, d)| d.repeated())
        .map(|(c, _, _)| c.name().to_string())
        .collect();
    let names = modelled.iter().map(|c| c.name().to_string()).collect();
    let cards = modelled.iter().map(|c| c.cardinality()).collect();
    let table = EncodedTable::new(names, cards, codes).and_then(|t| match unit {
        Some((_, _, interner)) => t.with_units(interner.finish()),
        None => Some(t),
    });
    match table {
        Some(t) => Some((t, report)),
        None => {
            errors.push(DataError::Malformed {
                file: file.to_string(),
                line: 0,
                message: "internal error: encoded columns differ in length".into(),
            });
            None
        }
    }
}
