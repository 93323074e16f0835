//! Column kinds and the code layout they imply: how a raw cell becomes a code, what each code
//! means in a report, and how a code becomes a value again.
//!
//! Code layout of every modelled column: the kind's own codes first (listed values, or bins in
//! increasing order), then the catch-all `other` code if declared, then the missing code if
//! missing values are their own category. The layout depends on the schema alone.

use std::collections::HashMap;

use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use rand::Rng;

use super::value::{Axis, Interval, IntervalSet};

/// Upper limit on a column's number of codes. A marginal over a column this wide is already
/// too large to measure usefully; the limit catches a mistyped `bin_width` early.
pub const MAX_CODES: usize = 100_000;

/// The default date format (ISO 8601, `2024-03-31`).
pub const DEFAULT_DATE_FORMAT: &str = "%Y-%m-%d";

/// The default date-time output format (ISO 8601 to the minute, `2024-03-31T14:05`). Without
/// a `format`, cells are read in ISO 8601 with a `T` or a space between date and time, with or
/// without seconds (and fractions of a second).
pub const DEFAULT_DATETIME_FORMAT: &str = "%Y-%m-%dT%H:%M";

/// Formats tried, in order, when a date-time column has no `format`.
const DATETIME_INPUT_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// Parses a date-time cell: with `format`, exactly that; without, ISO 8601 with `T` or a space.
pub(crate) fn parse_datetime(s: &str, format: Option<&str>) -> Option<NaiveDateTime> {
    match format {
        Some(f) => NaiveDateTime::parse_from_str(s, f).ok(),
        None => DATETIME_INPUT_FORMATS
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok()),
    }
}

/// The Unix epoch, the origin of date-time axis values.
fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// Minutes since the epoch (a fraction for seconds): a date-time's axis key.
pub(crate) fn minutes_of(t: NaiveDateTime) -> f64 {
    let d = t - epoch();
    d.num_seconds() as f64 / 60.0 + f64::from(d.subsec_nanos()) / 6e10
}

/// The date-time `m` whole minutes after the epoch.
pub(crate) fn datetime_of_minutes(m: i64) -> Option<NaiveDateTime> {
    epoch().checked_add_signed(TimeDelta::try_minutes(m)?)
}

/// A date's axis value: days from the common era.
pub(crate) fn days_of(d: NaiveDate) -> f64 {
    f64::from(d.num_days_from_ce())
}

pub(crate) fn date_of_days(v: f64) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(v as i32)
}

/// What a missing cell means for a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingPolicy {
    /// A missing cell is an input error (the default: silent missingness hides data problems).
    Error,
    /// Missing is a category of its own, with the column's last code.
    Category,
}

/// Calendar unit of date and date-time bins (`minute` and `hour` for date-times only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateUnit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl DateUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            DateUnit::Minute => "minute",
            DateUnit::Hour => "hour",
            DateUnit::Day => "day",
            DateUnit::Week => "week",
            DateUnit::Month => "month",
            DateUnit::Year => "year",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "minute" => Some(DateUnit::Minute),
            "hour" => Some(DateUnit::Hour),
            "day" => Some(DateUnit::Day),
            "week" => Some(DateUnit::Week),
            "month" => Some(DateUnit::Month),
            "year" => Some(DateUnit::Year),
            _ => None,
        }
    }

    /// Whether the unit is finer than a day (date-time columns only).
    pub fn is_time(self) -> bool {
        matches!(self, DateUnit::Minute | DateUnit::Hour)
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

/// The scale on which a numeric column's bins are laid out (`bins = N`, `bins = "auto"`) and
/// on which decoding interpolates its within-bin densities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BinScale {
    #[default]
    Linear,
    /// Logarithmic: for skewed positive quantities (lab values, incomes, counts of events).
    Log,
}

impl BinScale {
    pub fn as_str(self) -> &'static str {
        match self {
            BinScale::Linear => "linear",
            BinScale::Log => "log",
        }
    }
}

/// `bins = "auto"`: the column's codes are a fine public grid of `grid` cells between the
/// bounds (log-spaced on a log scale), which MST and AIM merge into at most `max_bins`
/// contiguous bins of roughly equal mass from the noisy one-way counts they measure anyway
/// (post-processing; proofs/mst.md and proofs/aim.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoBins {
    pub grid: usize,
    pub max_bins: usize,
}

/// Fine cells of an automatic grid unless the schema says otherwise.
pub const DEFAULT_AUTO_GRID: usize = 256;
/// Most bins an automatic grid is merged into unless the schema says otherwise.
pub const DEFAULT_AUTO_MAX_BINS: usize = 32;

/// Public bounds and bins of a numeric column. Bin `i` is `[edges[i], edges[i+1])`. For floats
/// the last bin also holds its upper edge `max`; for integers the last edge is `max + 1`, so
/// every bin is a run of whole numbers `edges[i] ..= edges[i+1] - 1`. Either way `[min, max]`
/// is covered exactly. Special values (`specials`) have codes of their own after the bins and
/// are never written from a bin.
#[derive(Clone, Debug, PartialEq)]
pub struct Bins {
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) width: Option<f64>,
    pub(crate) given_edges: Option<Vec<f64>>,
    /// `bins = N`: N bins of equal width on the column's scale.
    pub(crate) count: Option<usize>,
    pub(crate) auto: Option<AutoBins>,
    pub(crate) scale: BinScale,
    pub(crate) edges: Vec<f64>,
    pub(crate) decimals: Option<u32>,
    pub(crate) integer: bool,
    pub(crate) specials: Vec<f64>,
    pub(crate) axis: Axis,
}

/// Grid points `k / 10^d` are exact only while `|k| < 2^53`.
const EXACT: f64 = 9_007_199_254_740_992.0;

impl Bins {
    /// The axis of a numeric column: whole numbers, multiples of `10^-decimals` while they are
    /// exact in an f64, else the reals.
    pub(crate) fn axis_for(integer: bool, decimals: Option<u32>, min: f64, max: f64) -> Axis {
        if integer {
            return Axis::Integer;
        }
        match decimals {
            Some(d) if min.abs().max(max.abs()) * 10f64.powi(d as i32) < EXACT / 4.0 => {
                Axis::Decimal(d)
            }
            _ => Axis::Real,
        }
    }

    pub fn min(&self) -> f64 {
        self.min
    }

    pub fn max(&self) -> f64 {
        self.max
    }

    /// Effective edges: `min`, the interior cut points, `max` (`max + 1` for integers).
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

    pub fn scale(&self) -> BinScale {
        self.scale
    }

    /// The automatic grid, if the bins are `"auto"` (the edges are then the fine grid).
    pub fn auto(&self) -> Option<AutoBins> {
        self.auto
    }

    /// Special values, in code order after the bins.
    pub fn specials(&self) -> &[f64] {
        &self.specials
    }

    pub fn axis(&self) -> Axis {
        self.axis
    }

    /// The bin of a value already clamped to `[min, max]`.
    pub fn bin_of(&self, x: f64) -> usize {
        let above = self.edges.partition_point(|&e| e <= x);
        above.saturating_sub(1).min(self.n_bins() - 1)
    }

    /// Index of the special value equal to `x`, if any.
    pub fn special_index(&self, x: f64) -> Option<usize> {
        self.specials.iter().position(|&s| s == x)
    }

    /// A bin's range as text, for reports and messages.
    pub(crate) fn code_label(&self, i: usize) -> String {
        if self.integer {
            let (lo, hi) = (self.edges[i] as i64, self.edges[i + 1] as i64 - 1);
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

    /// The text a decoded axis value is written as.
    pub fn format_axis(&self, v: f64) -> String {
        match self.axis {
            Axis::Integer => format!("{}", v as i64),
            Axis::Decimal(d) => format!("{:.*}", d as usize, v / 10f64.powi(d as i32)),
            _ => format!("{v}"),
        }
    }

    /// The number a decoded axis value reads back as (what rules compare).
    pub fn key_of_axis(&self, v: f64) -> f64 {
        match self.axis {
            Axis::Decimal(_) => self.format_axis(v).parse().unwrap_or(f64::NAN),
            _ => v,
        }
    }

    /// The axis value of a special value.
    pub fn special_axis(&self, j: usize) -> f64 {
        let s = self.specials[j];
        match self.axis {
            Axis::Decimal(d) => (s * 10f64.powi(d as i32)).round(),
            _ => s,
        }
    }

    /// Every axis value bin `i` can write, before special values are taken out.
    fn bin_hull(&self, i: usize) -> Interval {
        let lo = self.edges[i];
        let hi = self.edges[i + 1];
        let last = i + 1 == self.n_bins();
        match self.axis {
            Axis::Integer => Interval::closed(lo, hi - 1.0),
            Axis::Real => Interval {
                lo,
                hi,
                lo_open: false,
                hi_open: !last,
            },
            _ => {
                // Grid points whose written text reads back inside the bin.
                let s = 10f64.powi(match self.axis {
                    Axis::Decimal(d) => d as i32,
                    _ => 0,
                });
                let inside = |k: f64| {
                    let x = self.key_of_axis(k);
                    x >= lo && (x < hi || (last && x <= hi))
                };
                let mut k_lo = (lo * s).ceil() - 1.0;
                while !inside(k_lo) && k_lo <= (hi * s).ceil() + 1.0 {
                    k_lo += 1.0;
                }
                let mut k_hi = (hi * s).floor() + 1.0;
                while !inside(k_hi) && k_hi >= k_lo {
                    k_hi -= 1.0;
                }
                Interval::closed(k_lo, k_hi)
            }
        }
    }

    /// The axis values bin `i` writes: its range without the special values.
    pub fn bin_values(&self, i: usize) -> IntervalSet {
        let grid = self.axis.is_grid();
        let mut set = IntervalSet::from_parts(grid, vec![self.bin_hull(i)]);
        for j in 0..self.specials.len() {
            let p = IntervalSet::from_parts(grid, vec![Interval::point(self.special_axis(j))]);
            set = set.intersect(&p.complement());
        }
        set
    }

    /// The span of bin `i` in linear units (the column's numbers), as a density sees it: on a
    /// grid, each value stands for the half-open cell of one step around it.
    pub fn density_span(&self, i: usize) -> (f64, f64) {
        let h = self.bin_hull(i);
        if self.axis.is_grid() {
            let st = self.axis.step();
            ((h.lo - 0.5) * st, (h.hi + 0.5) * st)
        } else {
            (h.lo, h.hi)
        }
    }

    /// The key a written number reads as (the number itself).
    fn key_of_text(&self, t: &str) -> Option<f64> {
        t.parse::<f64>().ok().filter(|x| !x.is_nan())
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

/// The first calendar boundary after `cur` for a unit of a day or more (weeks count from
/// `cur`, the bins' own start).
fn next_date(cur: NaiveDate, unit: DateUnit) -> Option<NaiveDate> {
    match unit {
        DateUnit::Minute | DateUnit::Hour | DateUnit::Day => cur.checked_add_days(Days::new(1)),
        DateUnit::Week => cur.checked_add_days(Days::new(7)),
        DateUnit::Month => cur
            .with_day(1)
            .and_then(|d| d.checked_add_months(Months::new(1))),
        DateUnit::Year => NaiveDate::from_ymd_opt(cur.year() + 1, 1, 1),
    }
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
            match next_date(cur, unit) {
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
            DateUnit::Week => format!("{} to {}", lo.format("%Y-%m-%d"), hi.format("%Y-%m-%d")),
            DateUnit::Month => lo.format("%Y-%m").to_string(),
            DateUnit::Year => lo.format("%Y").to_string(),
            _ => lo.format("%Y-%m-%d").to_string(),
        }
    }

    /// The days (axis values) bin `i` writes.
    pub fn bin_values(&self, i: usize) -> IntervalSet {
        let (lo, hi) = self.range(i);
        IntervalSet::from_parts(true, vec![Interval::closed(days_of(lo), days_of(hi))])
    }

    pub fn format_axis(&self, v: f64) -> String {
        date_of_days(v)
            .map(|d| d.format(self.format()).to_string())
            .unwrap_or_default()
    }
}

/// Public bounds and calendar bins of a date-time column. Values are modelled and written to
/// the minute. Bin `i` runs from `starts[i]` to the minute before `starts[i+1]`; the last bin
/// ends at `max`.
#[derive(Clone, Debug, PartialEq)]
pub struct DateTimeBins {
    pub(crate) min: NaiveDateTime,
    pub(crate) max: NaiveDateTime,
    pub(crate) unit: DateUnit,
    pub(crate) format: Option<String>,
    pub(crate) starts: Vec<NaiveDateTime>,
}

impl DateTimeBins {
    /// Builds the bins, or returns the number of bins if it would exceed [`MAX_CODES`].
    pub(crate) fn new(
        min: NaiveDateTime,
        max: NaiveDateTime,
        unit: DateUnit,
        format: Option<String>,
    ) -> Result<Self, usize> {
        let mut starts = vec![min];
        let mut cur = min;
        loop {
            let next = match unit {
                DateUnit::Minute => cur.checked_add_signed(TimeDelta::minutes(1)),
                DateUnit::Hour => cur
                    .with_minute(0)
                    .and_then(|t| t.checked_add_signed(TimeDelta::hours(1))),
                DateUnit::Week => cur.checked_add_signed(TimeDelta::days(7)),
                u => next_date(cur.date(), u).and_then(|d| d.and_hms_opt(0, 0, 0)),
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
        Ok(DateTimeBins {
            min,
            max,
            unit,
            format,
            starts,
        })
    }

    pub fn min(&self) -> NaiveDateTime {
        self.min
    }

    pub fn max(&self) -> NaiveDateTime {
        self.max
    }

    pub fn unit(&self) -> DateUnit {
        self.unit
    }

    /// The declared format, if any (without one, cells are read as ISO 8601 with `T` or a
    /// space and written as [`DEFAULT_DATETIME_FORMAT`]).
    pub fn format(&self) -> Option<&str> {
        self.format.as_deref()
    }

    pub fn n_bins(&self) -> usize {
        self.starts.len()
    }

    /// The bin of a date-time already clamped to `[min, max]`.
    pub fn bin_of(&self, t: NaiveDateTime) -> usize {
        self.starts.partition_point(|&s| s <= t).saturating_sub(1)
    }

    /// First and last minute (axis values) of bin `i`.
    fn range(&self, i: usize) -> (f64, f64) {
        let lo = minutes_of(self.starts[i]);
        let hi = match self.starts.get(i + 1) {
            Some(n) => minutes_of(*n) - 1.0,
            None => minutes_of(self.max),
        };
        (lo, hi)
    }

    fn label(&self, i: usize) -> String {
        let t = self.starts[i];
        match self.unit {
            DateUnit::Minute => t.format("%Y-%m-%d %H:%M").to_string(),
            DateUnit::Hour => t.format("%Y-%m-%d %H:00").to_string(),
            DateUnit::Day => t.format("%Y-%m-%d").to_string(),
            DateUnit::Week => {
                let end = self
                    .starts
                    .get(i + 1)
                    .and_then(|n| n.date().pred_opt())
                    .unwrap_or(self.max.date());
                format!("{} to {}", t.format("%Y-%m-%d"), end.format("%Y-%m-%d"))
            }
            DateUnit::Month => t.format("%Y-%m").to_string(),
            DateUnit::Year => t.format("%Y").to_string(),
        }
    }

    /// The minutes (axis values) bin `i` writes.
    pub fn bin_values(&self, i: usize) -> IntervalSet {
        let (lo, hi) = self.range(i);
        IntervalSet::from_parts(true, vec![Interval::closed(lo, hi)])
    }

    pub fn format_axis(&self, v: f64) -> String {
        datetime_of_minutes(v as i64)
            .map(|t| {
                t.format(self.format.as_deref().unwrap_or(DEFAULT_DATETIME_FORMAT))
                    .to_string()
            })
            .unwrap_or_default()
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
    /// Date-times with public bounds, binned by a calendar or clock unit, written to the minute.
    DateTime(DateTimeBins),
    /// An identifier: not modelled; fresh sequential values are written on output.
    Id {
        /// Text put before the sequence number on output (e.g. `P` gives `P1`, `P2`, ...).
        prefix: Option<String>,
    },
    /// A column that is read past: not modelled and not written (free text, names).
    Skip,
}

impl ColumnKind {
    pub fn name(&self) -> &'static str {
        match self {
            ColumnKind::Categorical(_) => "categorical",
            ColumnKind::Integer(_) => "integer",
            ColumnKind::Float(_) => "float",
            ColumnKind::Date(_) => "date",
            ColumnKind::DateTime(_) => "datetime",
            ColumnKind::Id { .. } => "id",
            ColumnKind::Skip => "skip",
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
    /// The column's 1-based position in the file, for a header cell with no name (an R or
    /// pandas row index): the schema names it, the file need not.
    pub(crate) position: Option<usize>,
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
    /// Not a date-time in the column's format.
    NotADateTime,
    /// Id and skip columns are not encoded.
    NotModelled,
}

/// What a code stands for, in the terms rules and decoding reason in.
#[derive(Clone, Debug, PartialEq)]
pub enum CodeValue {
    /// A categorical value (or the catch-all's name).
    Text(String),
    /// The missing category.
    Missing,
    /// The axis values the code can be written as (a bin without its special values, or a
    /// special value alone).
    Values(IntervalSet),
}

/// A written cell read back as rules compare it.
#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    Missing,
    Text(String),
    /// A number, or a date (days) or date-time (minutes) on its column's axis.
    Num(f64),
}

impl Column {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> &ColumnKind {
        &self.kind
    }

    /// Whether the column is part of the model (every kind except `id` and `skip`).
    pub fn is_modelled(&self) -> bool {
        !matches!(self.kind, ColumnKind::Id { .. } | ColumnKind::Skip)
    }

    /// Whether the column is written on output (every kind except `skip`).
    pub fn is_written(&self) -> bool {
        !matches!(self.kind, ColumnKind::Skip)
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

    /// The 1-based position in the file this column claims, whose header cell may be empty.
    pub fn position(&self) -> Option<usize> {
        self.position
    }

    /// The numeric bins of an integer or float column.
    pub fn bins(&self) -> Option<&Bins> {
        match &self.kind {
            ColumnKind::Integer(b) | ColumnKind::Float(b) => Some(b),
            _ => None,
        }
    }

    /// The axis of a numeric, date or date-time column.
    pub fn axis(&self) -> Option<Axis> {
        match &self.kind {
            ColumnKind::Integer(b) | ColumnKind::Float(b) => Some(b.axis),
            ColumnKind::Date(_) => Some(Axis::Day),
            ColumnKind::DateTime(_) => Some(Axis::Minute),
            _ => None,
        }
    }

    /// Number of bins of a numeric, date or date-time column (0 otherwise): codes
    /// `0..n_bins()` are the bins, in increasing order.
    pub fn n_bins(&self) -> usize {
        match &self.kind {
            ColumnKind::Integer(b) | ColumnKind::Float(b) => b.n_bins(),
            ColumnKind::Date(d) => d.n_bins(),
            ColumnKind::DateTime(d) => d.n_bins(),
            _ => 0,
        }
    }

    /// Codes of the kind itself (values, or bins and special values), before catch-all and
    /// missing.
    fn base_codes(&self) -> usize {
        match &self.kind {
            ColumnKind::Categorical(c) => c.values.len(),
            ColumnKind::Integer(b) | ColumnKind::Float(b) => b.n_bins() + b.specials.len(),
            ColumnKind::Date(d) => d.n_bins(),
            ColumnKind::DateTime(d) => d.n_bins(),
            ColumnKind::Id { .. } | ColumnKind::Skip => 0,
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

    /// Number of codes, including the catch-all and missing codes; 0 for `id` and `skip`
    /// columns.
    pub fn cardinality(&self) -> usize {
        if !self.is_modelled() {
            return 0;
        }
        self.base_codes()
            + usize::from(self.other_code().is_some())
            + usize::from(self.missing == MissingPolicy::Category)
    }

    /// A human-readable label for each code, for reports: the value's label (or the value),
    /// the bin's range, the special value, the catch-all's name, and the missing label.
    pub fn code_labels(&self) -> Vec<String> {
        let mut out: Vec<String> = match &self.kind {
            ColumnKind::Categorical(c) => match &c.labels {
                Some(l) => l.clone(),
                None => c.values.clone(),
            },
            ColumnKind::Integer(b) | ColumnKind::Float(b) => (0..b.n_bins())
                .map(|i| b.code_label(i))
                .chain(
                    (0..b.specials.len())
                        .map(|j| format!("{} (special)", b.format_axis(b.special_axis(j)))),
                )
                .collect(),
            ColumnKind::Date(d) => (0..d.n_bins()).map(|i| d.label(i)).collect(),
            ColumnKind::DateTime(d) => (0..d.n_bins()).map(|i| d.label(i)).collect(),
            ColumnKind::Id { .. } | ColumnKind::Skip => return Vec::new(),
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
            ColumnKind::DateTime(d) => {
                let t = parse_datetime(trimmed, d.format()).ok_or(CellError::NotADateTime)?;
                Ok(if t < d.min {
                    Cell::ClampedBelow(0)
                } else if t > d.max {
                    Cell::ClampedAbove(d.n_bins() as u32 - 1)
                } else {
                    Cell::Value(d.bin_of(t) as u32)
                })
            }
            ColumnKind::Id { .. } | ColumnKind::Skip => Err(CellError::NotModelled),
        }
    }

    /// What code `code` stands for; None for a code outside `0..cardinality()`.
    pub fn code_value(&self, code: u32) -> Option<CodeValue> {
        let c = code as usize;
        if c >= self.cardinality() {
            return None;
        }
        if Some(code) == self.missing_code() {
            return Some(CodeValue::Missing);
        }
        Some(match &self.kind {
            ColumnKind::Categorical(cat) => match cat.values.get(c) {
                Some(v) => CodeValue::Text(v.clone()),
                None => CodeValue::Text(cat.other.clone().unwrap_or_default()),
            },
            ColumnKind::Integer(b) | ColumnKind::Float(b) => {
                if c < b.n_bins() {
                    CodeValue::Values(b.bin_values(c))
                } else {
                    let p = Interval::point(b.special_axis(c - b.n_bins()));
                    CodeValue::Values(IntervalSet::from_parts(b.axis.is_grid(), vec![p]))
                }
            }
            ColumnKind::Date(d) => CodeValue::Values(d.bin_values(c)),
            ColumnKind::DateTime(d) => CodeValue::Values(d.bin_values(c)),
            ColumnKind::Id { .. } | ColumnKind::Skip => return None,
        })
    }

    /// The span of bin `code` in linear units (numbers, days or minutes) for within-bin
    /// densities; None for special values, missing and non-numeric codes.
    pub fn density_span(&self, code: u32) -> Option<(f64, f64)> {
        let c = code as usize;
        if c >= self.n_bins() {
            return None;
        }
        match &self.kind {
            ColumnKind::Integer(b) | ColumnKind::Float(b) => Some(b.density_span(c)),
            ColumnKind::Date(d) => {
                let (lo, hi) = d.range(c);
                Some((days_of(lo) - 0.5, days_of(hi) + 0.5))
            }
            ColumnKind::DateTime(d) => {
                let (lo, hi) = d.range(c);
                Some((lo - 0.5, hi + 0.5))
            }
            _ => None,
        }
    }

    /// The text an axis value is written as.
    pub fn format_axis(&self, v: f64) -> String {
        match &self.kind {
            ColumnKind::Integer(b) | ColumnKind::Float(b) => b.format_axis(v),
            ColumnKind::Date(d) => d.format_axis(v),
            ColumnKind::DateTime(d) => d.format_axis(v),
            _ => String::new(),
        }
    }

    /// The text written for the missing category.
    pub fn missing_text(&self) -> String {
        self.missing_tokens.first().cloned().unwrap_or_default()
    }

    /// A written cell read back as rules compare it (None if it does not read as a value of
    /// the column at all).
    pub fn key_of_text(&self, raw: &str) -> Option<Key> {
        let trimmed = match self.kind {
            ColumnKind::Categorical(_) => raw,
            _ => raw.trim(),
        };
        if self.is_missing(raw) || self.is_missing(trimmed) {
            return Some(Key::Missing);
        }
        match &self.kind {
            ColumnKind::Categorical(_) => Some(Key::Text(raw.to_string())),
            ColumnKind::Integer(b) | ColumnKind::Float(b) => b.key_of_text(trimmed).map(Key::Num),
            ColumnKind::Date(d) => NaiveDate::parse_from_str(trimmed, d.format())
                .ok()
                .map(|x| Key::Num(days_of(x))),
            ColumnKind::DateTime(d) => {
                parse_datetime(trimmed, d.format()).map(|t| Key::Num(minutes_of(t)))
            }
            ColumnKind::Id { .. } | ColumnKind::Skip => None,
        }
    }

    /// Decodes a code into a cell value: categorical values by their value, numbers and dates
    /// uniformly among the values their bin can write, special values as themselves, missing
    /// as the first missing token. Returns None for a code outside `0..cardinality()` or a
    /// column that is not modelled. (Releases decode through `data::Decoder`, which draws
    /// from within-bin densities and obeys the schema's rules.)
    pub fn decode<R: Rng + ?Sized>(&self, code: u32, rng: &mut R) -> Option<String> {
        Some(match self.code_value(code)? {
            CodeValue::Text(t) => t,
            CodeValue::Missing => self.missing_text(),
            CodeValue::Values(set) => self.format_axis(uniform_in(&set, rng)?),
        })
    }
}

/// A value drawn uniformly from a non-empty set of axis values (None if it is empty).
pub(crate) fn uniform_in<R: Rng + ?Sized>(set: &IntervalSet, rng: &mut R) -> Option<f64> {
    let sizes: Vec<f64> = set
        .parts
        .iter()
        .map(|p| {
            if set.grid {
                p.hi - p.lo + 1.0
            } else {
                p.hi - p.lo
            }
        })
        .collect();
    let total: f64 = sizes.iter().sum();
    if set.parts.is_empty() || !total.is_finite() {
        return None;
    }
    let mut u = rng.gen::<f64>() * total;
    let mut part = set.parts[set.parts.len() - 1];
    for (p, &w) in set.parts.iter().zip(&sizes) {
        if u < w {
            part = *p;
            break;
        }
        u -= w;
    }
    if set.grid {
        return Some(rng.gen_range(part.lo as i64..=part.hi as i64) as f64);
    }
    if part.lo >= part.hi {
        return Some(part.lo);
    }
    let x: f64 = rng.gen_range(part.lo..part.hi);
    Some(if part.lo_open && x <= part.lo {
        part.lo.next_up()
    } else {
        x
    })
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
    if let Some(j) = b.special_index(x) {
        return Cell::Value((b.n_bins() + j) as u32);
    }
    if x < b.min {
        Cell::ClampedBelow(0)
    } else if x > b.max {
        Cell::ClampedAbove(b.n_bins() as u32 - 1)
    } else {
        Cell::Value(b.bin_of(x) as u32)
    }
}
