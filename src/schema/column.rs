//! Column kinds and the code layout they imply: how a raw cell becomes a code, what each code
//! means in a report, and how a code becomes a value again.
//!
//! Code layout of every modelled column: the kind's own codes first (listed values, or bins in
//! increasing order), then the catch-all `other` code if declared, then the missing code if
//! missing values are their own category. The layout depends on the schema alone.

use std::collections::HashMap;

use chrono::{Datelike, Days, Months, NaiveDate};
use rand::Rng;

/// Upper limit on a column's number of codes. A marginal over a column this wide is already
/// too large to measure usefully; the limit catches a mistyped `bin_width` early.
pub const MAX_CODES: usize = 100_000;

/// The default date format (ISO 8601, `2024-03-31`).
pub const DEFAULT_DATE_FORMAT: &str = "%Y-%m-%d";

/// What a missing cell means for a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingPolicy {
    /// A missing cell is an input error (the default: silent missingness hides data problems).
    Error,
    /// Missing is a category of its own, with the column's last code.
    Category,
}

/// Calendar unit of date bins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateUnit {
    Day,
    Week,
    Month,
    Year,
}

impl DateUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            DateUnit::Day => "day",
            DateUnit::Week => "week",
            DateUnit::Month => "month",
            DateUnit::Year => "year",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(DateUnit::Day),
            "week" => Some(DateUnit::Week),
            "month" => Some(DateUnit::Month),
            "year" => Some(DateUnit::Year),
            _ => None,
        }
    }
}

/// A categorical column's public value list.
#[derive(Clone, Debug, PartialEq)]
pub struct Categorical {
    pub(crate) values: Vec<String>,
    pub(crate) labels: Option<Vec<String>>,
    pub(crate) other: Option<String>,
    /// Value (and the catch-all's own name) -> code.
    pub(crate) index: HashMap<String, u32>,
}

impl Categorical {
    pub(crate) fn new(
        values: Vec<String>,
        labels: Option<Vec<String>>,
        other: Option<String>,
    ) -> Self {
        let mut index: HashMap<String, u32> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), i as u32))
            .collect();
        if let Some(o) = &other {
            index.insert(o.clone(), values.len() as u32);
        }
        Categorical {
            values,
            labels,
            other,
            index,
        }
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Human-readable labels, one per value, if the schema gives them.
    pub fn labels(&self) -> Option<&[String]> {
        self.labels.as_deref()
    }

    /// The catch-all category for values outside the list, if declared.
    pub fn other(&self) -> Option<&str> {
        self.other.as_deref()
    }
}

/// Public bounds and bins of a numeric column. Bin `i` is `[edges[i], edges[i+1])`. For floats
/// the last bin also holds its upper edge `max`; for integers the last edge is `max + 1`, so
/// every bin is a run of whole numbers `edges[i] ..= edges[i+1] - 1`. Either way `[min, max]`
/// is covered exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct Bins {
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) width: Option<f64>,
    pub(crate) given_edges: Option<Vec<f64>>,
    pub(crate) edges: Vec<f64>,
    pub(crate) decimals: Option<u32>,
    pub(crate) integer: bool,
}

impl Bins {
    pub fn min(&self) -> f64 {
        self.min
    }

    pub fn max(&self) -> f64 {
        self.max
    }

    /// Effective edges: `min`, the interior cut points, `max`.
    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    pub fn n_bins(&self) -> usize {
        self.edges.len() - 1
    }

    /// Decimal places written for decoded floats (None: shortest exact representation).
    pub fn decimals(&self) -> Option<u32> {
        self.decimals
    }

    /// The bin of a value already clamped to `[min, max]`.
    pub fn bin_of(&self, x: f64) -> usize {
        let above = self.edges.partition_point(|&e| e <= x);
        above.saturating_sub(1).min(self.n_bins() - 1)
    }

    /// Inclusive integer range of bin `i` (integer columns).
    fn int_range(&self, i: usize) -> (i64, i64) {
        (self.edges[i] as i64, self.edges[i + 1] as i64 - 1)
    }

    fn label(&self, i: usize) -> String {
        if self.integer {
            let (lo, hi) = self.int_range(i);
            if lo == hi {
                format!("{lo}")
            } else {
                format!("{lo} to {hi}")
            }
        } else {
            let close = if i + 1 == self.n_bins() { ']' } else { ')' };
            format!("[{}, {}{close}", self.edges[i], self.edges[i + 1])
        }
    }

    /// A value drawn uniformly from bin `i`, as text.
    fn sample<R: Rng + ?Sized>(&self, i: usize, rng: &mut R) -> String {
        if self.integer {
            let (lo, hi) = self.int_range(i);
            return format!("{}", rng.gen_range(lo..=hi));
        }
        let lo = self.edges[i];
        let hi = self.edges[i + 1];
        let last = i + 1 == self.n_bins();
        // Grid points k / 10^d are exact only while |k| < 2^53; beyond that (large values,
        // many decimals) the grid arithmetic would overflow i64: use full precision instead.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        let grid = self
            .decimals
            .map(|d| (d, 10f64.powi(d as i32)))
            .filter(|&(_, s)| (lo * s).abs() < EXACT && (hi * s).abs() < EXACT);
        if let Some((d, s)) = grid {
            // Uniform over the decimal grid points inside the bin, so that the written text
            // parses back into the same bin.
            let mut k_lo = (lo * s).ceil() as i64;
            let mut k_hi = if last {
                (hi * s).floor() as i64
            } else {
                (hi * s).ceil() as i64 - 1
            };
            while k_lo <= k_hi && (k_lo as f64 / s) < lo {
                k_lo += 1;
            }
            while k_lo <= k_hi && ((k_hi as f64 / s) > hi || (!last && (k_hi as f64 / s) >= hi)) {
                k_hi -= 1;
            }
            if k_lo <= k_hi {
                let k = rng.gen_range(k_lo..=k_hi);
                return format!("{:.*}", d as usize, k as f64 / s);
            }
            // The bin is narrower than the output precision: fall through to full precision.
        }
        if lo >= hi {
            return format!("{lo}");
        }
        let x: f64 = rng.gen_range(lo..hi);
        format!("{x}")
    }
}

/// Public bounds and calendar bins of a date column. Bin `i` runs from `starts[i]` to the day
/// before `starts[i+1]`; the last bin ends at `max`.
#[derive(Clone, Debug, PartialEq)]
pub struct DateBins {
    pub(crate) min: NaiveDate,
    pub(crate) max: NaiveDate,
    pub(crate) unit: DateUnit,
    pub(crate) format: Option<String>,
    pub(crate) starts: Vec<NaiveDate>,
}

impl DateBins {
    /// Builds the bins, or returns the number of bins if it would exceed [`MAX_CODES`].
    pub(crate) fn new(
        min: NaiveDate,
        max: NaiveDate,
        unit: DateUnit,
        format: Option<String>,
    ) -> Result<Self, usize> {
        let mut starts = vec![min];
        let mut cur = min;
        loop {
            let next = match unit {
                DateUnit::Day => cur.checked_add_days(Days::new(1)),
                DateUnit::Week => cur.checked_add_days(Days::new(7)),
                DateUnit::Month => cur
                    .with_day(1)
                    .and_then(|d| d.checked_add_months(Months::new(1))),
                DateUnit::Year => NaiveDate::from_ymd_opt(cur.year() + 1, 1, 1),
            };
            match next {
                Some(n) if n <= max => {
                    starts.push(n);
                    cur = n;
                }
                _ => break,
            }
            if starts.len() > MAX_CODES {
                return Err(starts.len());
            }
        }
        Ok(DateBins {
            min,
            max,
            unit,
            format,
            starts,
        })
    }

    pub fn min(&self) -> NaiveDate {
        self.min
    }

    pub fn max(&self) -> NaiveDate {
        self.max
    }

    pub fn unit(&self) -> DateUnit {
        self.unit
    }

    /// The chrono format used to read and write cells.
    pub fn format(&self) -> &str {
        self.format.as_deref().unwrap_or(DEFAULT_DATE_FORMAT)
    }

    pub fn n_bins(&self) -> usize {
        self.starts.len()
    }

    /// The bin of a date already clamped to `[min, max]`.
    pub fn bin_of(&self, d: NaiveDate) -> usize {
        self.starts.partition_point(|&s| s <= d).saturating_sub(1)
    }

    /// First and last day of bin `i`.
    fn range(&self, i: usize) -> (NaiveDate, NaiveDate) {
        let lo = self.starts[i];
        let hi = match self.starts.get(i + 1) {
            Some(n) => n.pred_opt().unwrap_or(*n),
            None => self.max,
        };
        (lo, hi)
    }

    fn label(&self, i: usize) -> String {
        let (lo, hi) = self.range(i);
        match self.unit {
            DateUnit::Day => lo.format("%Y-%m-%d").to_string(),
            DateUnit::Week => format!("{} to {}", lo.format("%Y-%m-%d"), hi.format("%Y-%m-%d")),
            DateUnit::Month => lo.format("%Y-%m").to_string(),
            DateUnit::Year => lo.format("%Y").to_string(),
        }
    }

    fn sample<R: Rng + ?Sized>(&self, i: usize, rng: &mut R) -> String {
        let (lo, hi) = self.range(i);
        let span = (hi - lo).num_days().max(0) as u64;
        let offset = rng.gen_range(0..=span);
        let d = lo.checked_add_days(Days::new(offset)).unwrap_or(lo);
        d.format(self.format()).to_string()
    }
}

/// The kind of a column and its kind-specific public knowledge.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnKind {
    /// A fixed list of values (plus optional catch-all).
    Categorical(Categorical),
    /// Whole numbers with public bounds and bins.
    Integer(Bins),
    /// Real numbers with public bounds and bins.
    Float(Bins),
    /// Calendar dates with public bounds, binned by a calendar unit.
    Date(DateBins),
    /// An identifier: not modelled; fresh sequential values are written on output.
    Id {
        /// Text put before the sequence number on output (e.g. `P` gives `P1`, `P2`, ...).
        prefix: Option<String>,
    },
}

impl ColumnKind {
    pub fn name(&self) -> &'static str {
        match self {
            ColumnKind::Categorical(_) => "categorical",
            ColumnKind::Integer(_) => "integer",
            ColumnKind::Float(_) => "float",
            ColumnKind::Date(_) => "date",
            ColumnKind::Id { .. } => "id",
        }
    }
}

/// One column of the public schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub(crate) name: String,
    pub(crate) kind: ColumnKind,
    pub(crate) missing: MissingPolicy,
    /// Effective missing tokens (the column's own, or the schema's default).
    pub(crate) missing_tokens: Vec<String>,
    /// Whether the column declared its own tokens (kept so the schema can be written back).
    pub(crate) own_missing_tokens: bool,
    pub(crate) missing_label: Option<String>,
    pub(crate) description: Option<String>,
}

/// The code of an encoded cell and what, if anything, was done to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// An ordinary value.
    Value(u32),
    /// A number or date below the public minimum, clamped to it.
    ClampedBelow(u32),
    /// A number or date above the public maximum, clamped to it.
    ClampedAbove(u32),
    /// A value outside the categorical list, mapped to the catch-all.
    Other(u32),
    /// A missing cell, coded as the missing category.
    Missing(u32),
}

impl Cell {
    pub fn code(self) -> u32 {
        match self {
            Cell::Value(c)
            | Cell::ClampedBelow(c)
            | Cell::ClampedAbove(c)
            | Cell::Other(c)
            | Cell::Missing(c) => c,
        }
    }
}

/// Why a cell could not be encoded (the data layer adds file, line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CellError {
    /// Missing, and the column's policy is `missing = "error"`.
    MissingNotAllowed,
    /// Not in the categorical list, and no catch-all declared.
    NotInList,
    /// Not a number.
    NotANumber,
    /// A number, but not a whole one, in an integer column.
    NotAnInteger,
    /// Not a date in the column's format.
    NotADate,
    /// Id columns are not encoded.
    NotModelled,
}

impl Column {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> &ColumnKind {
        &self.kind
    }

    /// Whether the column is part of the model (every kind except `id`).
    pub fn is_modelled(&self) -> bool {
        !matches!(self.kind, ColumnKind::Id { .. })
    }

    pub fn missing_policy(&self) -> MissingPolicy {
        self.missing
    }

    /// Cell texts read as missing. The first one is written for missing codes on output.
    pub fn missing_tokens(&self) -> &[String] {
        &self.missing_tokens
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Codes of the kind itself (values or bins), before catch-all and missing.
    fn base_codes(&self) -> usize {
        match &self.kind {
            ColumnKind::Categorical(c) => c.values.len(),
            ColumnKind::Integer(b) | ColumnKind::Float(b) => b.n_bins(),
            ColumnKind::Date(d) => d.n_bins(),
            ColumnKind::Id { .. } => 0,
        }
    }

    /// The catch-all code, if the column declares `other`.
    pub fn other_code(&self) -> Option<u32> {
        match &self.kind {
            ColumnKind::Categorical(c) if c.other.is_some() => Some(c.values.len() as u32),
            _ => None,
        }
    }

    /// The missing code, if missing is a category of its own.
    pub fn missing_code(&self) -> Option<u32> {
        if self.missing == MissingPolicy::Category && self.is_modelled() {
            Some(self.cardinality() as u32 - 1)
        } else {
            None
        }
    }

    /// Number of codes, including the catch-all and missing codes; 0 for `id` columns.
    pub fn cardinality(&self) -> usize {
        if !self.is_modelled() {
            return 0;
        }
        self.base_codes()
            + usize::from(self.other_code().is_some())
            + usize::from(self.missing == MissingPolicy::Category)
    }

    /// A human-readable label for each code, for reports: the value's label (or the value),
    /// the bin's range, the catch-all's name, and the missing label.
    pub fn code_labels(&self) -> Vec<String> {
        let mut out: Vec<String> = match &self.kind {
            ColumnKind::Categorical(c) => match &c.labels {
                Some(l) => l.clone(),
                None => c.values.clone(),
            },
            ColumnKind::Integer(b) | ColumnKind::Float(b) => {
                (0..b.n_bins()).map(|i| b.label(i)).collect()
            }
            ColumnKind::Date(d) => (0..d.n_bins()).map(|i| d.label(i)).collect(),
            ColumnKind::Id { .. } => return Vec::new(),
        };
        if let ColumnKind::Categorical(Categorical { other: Some(o), .. }) = &self.kind {
            out.push(o.clone());
        }
        if self.missing == MissingPolicy::Category {
            out.push(
                self.missing_label
                    .clone()
                    .unwrap_or_else(|| "(missing)".to_string()),
            );
        }
        out
    }

    /// Whether a cell's text is one of the column's missing tokens.
    pub fn is_missing(&self, raw: &str) -> bool {
        self.missing_tokens.iter().any(|t| t == raw)
    }

    /// Encodes one raw cell. Numbers and dates are trimmed of surrounding spaces; categorical
    /// values must match exactly.
    pub fn encode(&self, raw: &str) -> Result<Cell, CellError> {
        let trimmed = match self.kind {
            ColumnKind::Categorical(_) => raw,
            _ => raw.trim(),
        };
        if self.is_missing(raw) || self.is_missing(trimmed) {
            return match self.missing_code() {
                Some(c) => Ok(Cell::Missing(c)),
                None if self.is_modelled() => Err(CellError::MissingNotAllowed),
                None => Err(CellError::NotModelled),
            };
        }
        self.encode_value(raw, trimmed)
    }

    /// Whether a cell text would read as an ordinary in-bounds value (not clamped, not the
    /// catch-all) were it not a missing token: such a token makes the value unreadable.
    pub(crate) fn reads_as_value(&self, raw: &str) -> bool {
        let trimmed = match self.kind {
            ColumnKind::Categorical(_) => raw,
            _ => raw.trim(),
        };
        matches!(self.encode_value(raw, trimmed), Ok(Cell::Value(_)))
    }

    /// [`Column::encode`] without the missing-token check.
    fn encode_value(&self, raw: &str, trimmed: &str) -> Result<Cell, CellError> {
        match &self.kind {
            ColumnKind::Categorical(c) => match c.index.get(raw) {
                Some(&code) if c.other.as_deref() == Some(raw) => Ok(Cell::Other(code)),
                Some(&code) => Ok(Cell::Value(code)),
                None => match self.other_code() {
                    Some(code) => Ok(Cell::Other(code)),
                    None => Err(CellError::NotInList),
                },
            },
            ColumnKind::Integer(b) => {
                let x = parse_integer(trimmed)?;
                Ok(clamp_number(b, x))
            }
            ColumnKind::Float(b) => {
                let x: f64 = trimmed.parse().map_err(|_| CellError::NotANumber)?;
                if x.is_nan() {
                    return Err(CellError::NotANumber);
                }
                Ok(clamp_number(b, x))
            }
            ColumnKind::Date(d) => {
                let date = NaiveDate::parse_from_str(trimmed, d.format())
                    .map_err(|_| CellError::NotADate)?;
                Ok(if date < d.min {
                    Cell::ClampedBelow(0)
                } else if date > d.max {
                    Cell::ClampedAbove(d.n_bins() as u32 - 1)
                } else {
                    Cell::Value(d.bin_of(date) as u32)
                })
            }
            ColumnKind::Id { .. } => Err(CellError::NotModelled),
        }
    }

    /// Decodes a code into a cell value: categorical values by their value, numbers and dates
    /// uniformly within their bin, missing as the first missing token. Returns None for a code
    /// outside `0..cardinality()` or an `id` column.
    pub fn decode<R: Rng + ?Sized>(&self, code: u32, rng: &mut R) -> Option<String> {
        let code = code as usize;
        if code >= self.cardinality() {
            return None;
        }
        if Some(code as u32) == self.missing_code() {
            return Some(self.missing_tokens.first().cloned().unwrap_or_default());
        }
        match &self.kind {
            ColumnKind::Categorical(c) => match c.values.get(code) {
                Some(v) => Some(v.clone()),
                None => c.other.clone(),
            },
            ColumnKind::Integer(b) | ColumnKind::Float(b) => Some(b.sample(code, rng)),
            ColumnKind::Date(d) => Some(d.sample(code, rng)),
            ColumnKind::Id { .. } => None,
        }
    }
}

/// Parses a whole number, also accepting an integral decimal such as `15400.0` (common in
/// exports from tools that store every number as a float).
fn parse_integer(s: &str) -> Result<f64, CellError> {
    if let Ok(i) = s.parse::<i64>() {
        return Ok(i as f64);
    }
    let x: f64 = s.parse().map_err(|_| CellError::NotANumber)?;
    if x.is_nan() {
        return Err(CellError::NotANumber);
    }
    if x.is_finite() && x.fract() != 0.0 {
        return Err(CellError::NotAnInteger);
    }
    Ok(x)
}

fn clamp_number(b: &Bins, x: f64) -> Cell {
    if x < b.min {
        Cell::ClampedBelow(0)
    } else if x > b.max {
        Cell::ClampedAbove(b.n_bins() as u32 - 1)
    } else {
        Cell::Value(b.bin_of(x) as u32)
    }
}
