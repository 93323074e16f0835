//! A draft schema inferred from a CSV file: a convenience for getting started.
//!
//! Everything in a draft is read from the private data, so a draft is private itself. It
//! carries `draft = true` and a warning comment; a release run refuses it until a person has
//! replaced its value lists, bounds and bins with public knowledge and deleted the marker.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::path::Path;

use chrono::NaiveDate;

use super::emit::{list, q};

/// Placeholder value of a column whose every cell was missing.
const NONE_OBSERVED: &str = "(none observed)";

/// Cell texts a draft treats as missing everywhere.
const DRAFT_MISSING: &[&str] = &["", "NA", "N/A", "NULL"];
/// At most this many distinct values make a column categorical.
const FEW_VALUES: usize = 30;
/// Distinct values tracked per column; beyond this a column is treated as high-cardinality.
const TRACK_LIMIT: usize = 20_000;
/// Values listed for a high-cardinality text column; the rest go to a catch-all.
const LIST_LIMIT: usize = 200;

/// Why a draft could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error("{file}: cannot open the data file: {source}. Check the path and permissions")]
    Open {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: line {line}: malformed CSV: {message}. Fix the file (every row needs as many fields as the header)")]
    Malformed {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: the file is empty; a draft needs a header row")]
    NoHeader { file: String },
    #[error("{file}: the file has a header but no data rows; a draft needs data to infer from")]
    NoRows { file: String },
    #[error("{file}: column {column:?} appears twice in the header; rename one of them")]
    DuplicateHeader { file: String, column: String },
}

#[derive(Default)]
struct Stats {
    counts: HashMap<String, u64>,
    overflow: bool,
    missing: u64,
    cells: u64,
    num: NumStats,
}

/// A streaming summary of a column's numeric cells, kept even when its distinct values
/// overflow [`TRACK_LIMIT`] (a lab value with 50,000 distinct readings is still a number).
struct NumStats {
    /// Cells that parse as finite numbers.
    n: u64,
    min: f64,
    max: f64,
    /// Whether every numeric cell is a whole number written without a point.
    all_int: bool,
    /// Cells by digits after the point (the last slot: that many or more).
    decimals: [u64; 8],
    /// Distinct non-numeric texts (at most a few tracked) and whether there were more.
    texts: HashMap<String, u64>,
    more_texts: bool,
    /// A uniform sample of the numeric cells, for quantiles (reservoir sampling).
    sample: Vec<f64>,
    rng: rand::rngs::StdRng,
}

impl Default for NumStats {
    fn default() -> Self {
        NumStats {
            n: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            all_int: true,
            decimals: [0; 8],
            texts: HashMap::new(),
            more_texts: false,
            sample: Vec::new(),
            rng: rand::SeedableRng::seed_from_u64(0),
        }
    }
}

/// Numeric cells kept for quantiles.
const SAMPLE: usize = 20_000;

impl NumStats {
    fn push(&mut self, v: &str) {
        let t = v.trim();
        match t.parse::<f64>().ok().filter(|x| x.is_finite()) {
            Some(x) => {
                self.n += 1;
                self.min = self.min.min(x);
                self.max = self.max.max(x);
                let places = t
                    .split_once(['e', 'E'])
                    .map_or(t, |(m, _)| m)
                    .split_once('.')
                    .map_or(0, |(_, f)| f.len());
                self.all_int &= places == 0 && t.parse::<i64>().is_ok();
                self.decimals[places.min(7)] += 1;
                if self.sample.len() < SAMPLE {
                    self.sample.push(x);
                } else {
                    let j = rand::Rng::gen_range(&mut self.rng, 0..self.n);
                    if (j as usize) < SAMPLE {
                        self.sample[j as usize] = x;
                    }
                }
            }
            None => {
                if let Some(c) = self.texts.get_mut(t) {
                    *c += 1;
                } else if self.texts.len() < 4 {
                    self.texts.insert(t.to_string(), 1);
                } else {
                    self.more_texts = true;
                }
            }
        }
    }

    /// The `p`-quantile of the sampled numeric cells.
    fn quantile(&self, sorted: &[f64], p: f64) -> f64 {
        match sorted.len() {
            0 => self.min,
            n => sorted[((n - 1) as f64 * p).round() as usize],
        }
    }

    /// Digits after the point that 90% of the numeric cells need, capped at
    /// [`MAX_DECIMALS`] (exports often carry float noise such as 0.30000000000000004).
    fn typical_decimals(&self) -> usize {
        let mut seen = 0;
        for (d, c) in self.decimals.iter().enumerate() {
            seen += c;
            if seen as f64 >= 0.9 * self.n as f64 {
                return d.min(MAX_DECIMALS);
            }
        }
        MAX_DECIMALS
    }
}

/// The most digits after the point a draft gives a float column.
const MAX_DECIMALS: usize = 4;

/// Drafts a TOML schema from a CSV file's contents. The result is PRIVATE (it is derived from
/// the data) and marked `draft = true`; show it only to the trusted operator.
pub fn draft_from_csv(path: &Path) -> Result<String, DraftError> {
    let file = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| DraftError::Open {
        file: file.clone(),
        source: e,
    })?;
    draft_from_reader(std::io::BufReader::new(f), &file)
}

/// [`draft_from_csv`] from any reader of CSV text; `source_name` names it in messages and
/// in the draft's first comment.
pub fn draft_from_reader<R: std::io::Read>(
    reader: R,
    source_name: &str,
) -> Result<String, DraftError> {
    let file = source_name.to_string();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(String::from).collect(),
        Err(e) => return Err(malformed(&file, e)),
    };
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(DraftError::NoHeader { file });
    }
    let mut seen = HashSet::new();
    for h in header.iter().filter(|h| !h.trim().is_empty()) {
        if !seen.insert(h.as_str()) {
            return Err(DraftError::DuplicateHeader {
                file,
                column: h.clone(),
            });
        }
    }
    let mut stats: Vec<Stats> = header.iter().map(|_| Stats::default()).collect();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(malformed(&file, e)),
        }
        for (s, v) in stats.iter_mut().zip(rec.iter()) {
            s.cells += 1;
            if DRAFT_MISSING.contains(&v) {
                s.missing += 1;
                continue;
            }
            s.num.push(v);
            if let Some(c) = s.counts.get_mut(v) {
                *c += 1;
            } else if s.counts.len() < TRACK_LIMIT {
                s.counts.insert(v.to_string(), 1);
            } else {
                s.overflow = true;
            }
        }
    }

    if stats.first().is_none_or(|s| s.cells == 0) {
        return Err(DraftError::NoRows { file });
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# DRAFT schema inferred from the data in {file:?} by `dpsynth schema draft`."
    );
    out.push_str(
        "# WARNING: the value lists, bounds and bins below were read from PRIVATE data and may\n\
         # disclose it. Replace each with public knowledge (code books, standards, published\n\
         # ranges), then delete the `draft = true` line. A release run refuses this file as is.\n",
    );
    out.push_str("draft = true\n");
    let _ = writeln!(
        out,
        "missing_tokens = {}",
        list(DRAFT_MISSING.iter().map(|t| q(t)))
    );
    for (i, (name, s)) in header.iter().zip(&stats).enumerate() {
        out.push_str("\n[[columns]]\n");
        if name.trim().is_empty() {
            // An unnamed header cell (an R or pandas row index, say): a placeholder name,
            // matched by position, and not modelled.
            let mut placeholder = format!("unnamed_{}", i + 1);
            while header.contains(&placeholder) {
                placeholder.push('_');
            }
            out.push_str(
                "# this column has no name in the file's header (a row index?): it is matched by\n\
                 # its position and skipped; rename it in the file to use it\n",
            );
            let _ = writeln!(out, "name = {}", q(&placeholder));
            let _ = writeln!(out, "position = {}", i + 1);
            out.push_str("kind = \"skip\"\n");
            continue;
        }
        let _ = writeln!(out, "name = {}", q(name));
        draft_column(&mut out, name, s);
    }
    Ok(out)
}

fn malformed(file: &str, e: csv::Error) -> DraftError {
    let line = e.position().map_or(0, |p| p.line());
    DraftError::Malformed {
        file: file.to_string(),
        line,
        message: e.to_string(),
    }
}

fn is_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// Whether a header names an identifier: `id`, `patient_id`, `PatientID`, `mrn`, `uuid`...
fn id_like_name(name: &str) -> bool {
    let l = name.trim().to_lowercase();
    let words: Vec<&str> = l
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let camel_id = name.trim().ends_with("ID")
        || (name.trim().ends_with("Id")
            && name
                .trim()
                .chars()
                .rev()
                .nth(2)
                .is_some_and(|c| c.is_ascii_lowercase()));
    camel_id
        || words.iter().any(|w| {
            matches!(
                *w,
                "id" | "ids" | "mrn" | "uuid" | "guid" | "ssn" | "nhs" | "identifier"
            )
        })
        || (words.len() >= 2
            && matches!(words.last(), Some(&"number" | &"no" | &"nr" | &"num"))
            && words.iter().any(|w| {
                matches!(
                    *w,
                    "patient"
                        | "record"
                        | "case"
                        | "encounter"
                        | "visit"
                        | "member"
                        | "person"
                        | "subject"
                        | "episode"
                        | "admission"
                        | "sample"
                        | "specimen"
                )
            }))
}

/// Whether a header names a person's name, contact details or free text.
fn free_text_name(name: &str) -> bool {
    let l = name.trim().to_lowercase();
    l.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
        matches!(
            w,
            "name"
                | "names"
                | "firstname"
                | "lastname"
                | "surname"
                | "forename"
                | "fullname"
                | "address"
                | "street"
                | "email"
                | "mail"
                | "phone"
                | "telephone"
                | "comment"
                | "comments"
                | "note"
                | "notes"
                | "remark"
                | "remarks"
                | "text"
                | "freetext"
        )
    })
}

/// A round number: `m` times ten to `exp`, read from its decimal text so that it prints
/// as written (0.2, not 0.20000000000000001).
fn round_number(m: u32, exp: i32) -> f64 {
    format!("{m}e{exp}").parse().unwrap_or(0.0)
}

/// The round numbers 1, 2, 5, 10, 20, 50, ... (times powers of ten) from `from` up to the
/// first at or above `to`.
fn one_two_five(from: f64, to: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut exp = from.log10().floor() as i32;
    while out.last().is_none_or(|&v| v < to) && exp < 310 {
        for m in [1, 2, 5] {
            let v = round_number(m, exp);
            if v >= from && out.last().is_none_or(|&l| l < to) {
                out.push(v);
            }
        }
        exp += 1;
    }
    out
}

/// `x` rounded down (`up` false) or up to a multiple of `w`, printed cleanly.
fn to_multiple(x: f64, w: f64, up: bool) -> f64 {
    let k = if up { (x / w).ceil() } else { (x / w).floor() };
    let places = (-w.log10().floor()).max(0.0) as usize;
    format!("{:.*}", places, k * w).parse().unwrap_or(x)
}

fn draft_column(out: &mut String, name: &str, s: &Stats) {
    let distinct: Vec<&String> = s.counts.keys().collect();
    let n_distinct = distinct.len();
    // Every cell missing: nothing to infer, but the draft must still parse and encode the
    // file. A placeholder value stands in until the user lists the real ones.
    if n_distinct == 0 && !s.overflow {
        out.push_str("# every cell of this column was missing: list its possible values\n");
        out.push_str("kind = \"categorical\"\n");
        let _ = writeln!(out, "values = {}", list([q(NONE_OBSERVED)]));
        write_missing(out, true, None);
        return;
    }
    let present = s.cells - s.missing;
    let n = &s.num;
    // A numeric column may use one short code for "not applicable" (e.g. NIST's "N").
    let special = (n.texts.len() == 1 && !n.more_texts && n.n > 0)
        .then(|| n.texts.keys().next().cloned())
        .flatten()
        .filter(|t| t.len() <= 3 && (s.overflow || n_distinct > FEW_VALUES));
    let numeric = n.n > 0 && (n.texts.is_empty() || special.is_some());
    let texts = !numeric;
    let dates: Option<Vec<NaiveDate>> = (!s.overflow)
        .then(|| distinct.iter().map(|v| is_date(v)).collect())
        .flatten();
    let has_spaces = || {
        distinct
            .iter()
            .any(|v| v.trim().contains(char::is_whitespace))
    };
    // Nearly every value distinct: an identifier, unless it is a measurement (decimals)
    // or free text (words).
    let nearly_unique = present >= 20
        && (s.overflow || n_distinct as f64 >= 0.95 * present as f64)
        && dates.is_none();
    let id_by_values = nearly_unique
        && if numeric {
            n.all_int && !s.overflow && n_distinct as u64 == present
        } else {
            !has_spaces()
        };
    if (id_like_name(name) && dates.is_none()) || id_by_values {
        out.push_str(
            "# identifier-like (named like an id, or nearly every value distinct): not modelled;\n\
             # releases write fresh ids. Use kind = \"skip\" to leave it out of the output.\n",
        );
        out.push_str("kind = \"id\"\n");
        return;
    }
    if texts && dates.is_none() {
        let many = s.overflow || n_distinct > FEW_VALUES;
        let ratio = n_distinct as f64 / present.max(1) as f64;
        if free_text_name(name) || (many && (ratio >= 0.2 || has_spaces() && ratio >= 0.05)) {
            out.push_str(
                "# names or free text (many distinct strings): skipped, never listed from the data.\n\
                 # If it is a category, declare kind = \"categorical\" with its public values.\n",
            );
            out.push_str("kind = \"skip\"\n");
            return;
        }
    }
    if let Some(d) = dates.filter(|d| !d.is_empty()) {
        let (lo, hi) = (d.iter().min().copied(), d.iter().max().copied());
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let days = (hi - lo).num_days();
            let unit = match days {
                ..=62 => "day",
                63..=730 => "week",
                731..=9125 => "month",
                _ => "year",
            };
            out.push_str("kind = \"date\"\n");
            out.push_str(
                "# REPLACE min and max with public bounds: these are the private data's range\n",
            );
            let _ = writeln!(out, "min = {}", q(&lo.to_string()));
            let _ = writeln!(out, "max = {}", q(&hi.to_string()));
            let _ = writeln!(out, "unit = {}", q(unit));
            write_missing(out, s.missing > 0, None);
            return;
        }
    }
    if n_distinct <= FEW_VALUES && !s.overflow {
        let mut values: Vec<&String> = distinct.clone();
        match numeric && n.all_int && special.is_none() {
            true => values.sort_by_key(|v| v.trim().parse::<i64>().unwrap_or(i64::MAX)),
            false => values.sort(),
        }
        out.push_str("kind = \"categorical\"\n");
        let _ = writeln!(out, "values = {}", list(values.iter().map(|v| q(v))));
        write_missing(out, s.missing > 0, None);
        return;
    }
    if numeric {
        draft_number(
            out,
            n,
            s.missing > 0 || special.is_some(),
            special.as_deref(),
        );
        return;
    }
    // Many distinct codes (few per row): list the most frequent, the rest go to a catch-all.
    let mut by_freq: Vec<(&String, &u64)> = s.counts.iter().collect();
    by_freq.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let listed: Vec<&String> = by_freq.iter().take(LIST_LIMIT).map(|(v, _)| *v).collect();
    out.push_str(
        "# REPLACE the values with the public code list (these were read from the data)\n",
    );
    out.push_str("kind = \"categorical\"\n");
    let _ = writeln!(out, "values = {}", list(listed.iter().map(|v| q(v))));
    if s.overflow || by_freq.len() > LIST_LIMIT {
        let mut other = "Other".to_string();
        while s.counts.contains_key(&other) {
            other = format!("({other})");
        }
        let _ = writeln!(out, "other = {}", q(&other));
    }
    write_missing(out, s.missing > 0, None);
}

/// An integer or float column: bounds widened to round numbers (flagged for replacement),
/// round bins at a sensible count (1-2-5 steps when the values are skewed), decimals as
/// the data typically have them.
fn draft_number(out: &mut String, n: &NumStats, has_missing: bool, special: Option<&str>) {
    // Whole numbers beyond 2^52 (widened, they could pass 2^53) are drafted as floats: an
    // integer column's bounds must be exact in an f64.
    let integer = n.all_int && n.min.abs().max(n.max.abs()) < (1u64 << 52) as f64;
    let (lo, hi) = (n.min, n.max);
    let mut sorted = n.sample.clone();
    sorted.sort_by(f64::total_cmp);
    let decimals = if integer { 0 } else { n.typical_decimals() };
    // Skewed: nine values in ten lie in the lowest fifth of the range (turnaround times,
    // lab values with a long tail): equal-width bins would put nearly all in one.
    let skewed = lo >= 0.0 && hi > lo && n.quantile(&sorted, 0.9) - lo < 0.2 * (hi - lo);
    let _ = writeln!(
        out,
        "kind = \"{}\"",
        if integer { "integer" } else { "float" }
    );
    out.push_str(
        "# REPLACE min and max with public bounds: these are the data's range widened to round numbers\n",
    );
    let fmt = |x: f64| {
        if integer {
            format!("{}", x as i64)
        } else {
            toml::Value::Float(x).to_string()
        }
    };
    // The smallest step: the data's resolution, or 1 for whole numbers.
    let unit = if integer {
        1.0
    } else {
        round_number(1, -(decimals as i32))
    };
    let low = n.quantile(&sorted, 0.05).max(unit);
    let steps = one_two_five(low, hi);
    let top = steps.last().copied().unwrap_or(hi).max(hi);
    let bottom = if lo < low {
        to_multiple(lo, unit, false).min(lo)
    } else {
        low.min(lo)
    };
    let edges: Vec<f64> = steps
        .iter()
        .copied()
        .filter(|&e| e > bottom && e < top)
        .collect();
    if skewed && edges.len() >= 2 {
        let _ = writeln!(out, "min = {}\nmax = {}", fmt(bottom), fmt(top));
        out.push_str("# skewed: bin edges grow in round 1-2-5 steps\n");
        let _ = writeln!(out, "bin_edges = {}", list(edges.iter().map(|&e| fmt(e))));
    } else {
        let mut w = nice_width(hi - lo);
        if integer {
            w = w.round().max(1.0);
        }
        let min = to_multiple(lo, w, false).min(lo);
        let mut max = to_multiple(hi, w, true).max(hi);
        if max <= min {
            max = min + w;
        }
        let _ = writeln!(out, "min = {}\nmax = {}", fmt(min), fmt(max));
        let _ = writeln!(out, "bin_width = {}", fmt(w));
    }
    if !integer {
        // Enough digits for the finest bin, so every bin can be written.
        let finest = if skewed && edges.len() >= 2 {
            unit
        } else {
            nice_width(hi - lo)
        };
        let needed = (-finest.log10().floor()).max(0.0) as usize;
        let _ = writeln!(out, "decimals = {}", decimals.max(needed));
    }
    write_missing(out, has_missing, special);
}

fn write_missing(out: &mut String, has_missing: bool, special: Option<&str>) {
    if has_missing {
        out.push_str("missing = \"category\"\n");
    }
    if let Some(t) = special {
        let tokens = DRAFT_MISSING
            .iter()
            .map(|s| s.to_string())
            .chain([t.to_string()]);
        let _ = writeln!(out, "missing_tokens = {}", list(tokens.map(|t| q(&t))));
    }
}

/// A round bin width (1, 2 or 5 times a power of ten) giving 10 to 25 bins: the largest such
/// width that still cuts the range into at least 10 pieces.
fn nice_width(range: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / 10.0;
    let exp = raw.log10().floor() as i32;
    for m in [5, 2] {
        if round_number(m, exp) <= raw {
            return round_number(m, exp);
        }
    }
    round_number(1, exp)
}
