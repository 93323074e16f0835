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
    #[error("{file}: column {index} of the header has no name; name every column")]
    UnnamedColumn { file: String, index: usize },
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
}

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
    if let Some(i) = header.iter().position(|h| h.trim().is_empty()) {
        return Err(DraftError::UnnamedColumn { file, index: i + 1 });
    }
    let mut seen = HashSet::new();
    for h in &header {
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
    for (name, s) in header.iter().zip(&stats) {
        out.push_str("\n[[columns]]\n");
        let _ = writeln!(out, "name = {}", q(name));
        draft_column(&mut out, s);
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

fn draft_column(out: &mut String, s: &Stats) {
    let distinct: Vec<&String> = s.counts.keys().collect();
    let n_distinct = distinct.len();
    // Every cell missing: nothing to infer, but the draft must still parse and encode the
    // file. A placeholder value stands in until the user lists the real ones.
    if n_distinct == 0 {
        out.push_str("# every cell of this column was missing: list its possible values\n");
        out.push_str("kind = \"categorical\"\n");
        let _ = writeln!(out, "values = {}", list([q(NONE_OBSERVED)]));
        write_missing(out, true, None);
        return;
    }
    // A numeric column may use one short code for "not applicable" (e.g. NIST's "N").
    let non_numeric: Vec<&String> = distinct
        .iter()
        .copied()
        .filter(|v| v.trim().parse::<f64>().is_err())
        .collect();
    let special = (non_numeric.len() == 1
        && non_numeric[0].len() <= 3
        && n_distinct > FEW_VALUES
        && !s.overflow)
        .then(|| non_numeric[0].clone());
    let numeric: Vec<&String> = distinct
        .iter()
        .copied()
        .filter(|v| Some(*v) != special.as_ref())
        .collect();
    let has_missing = s.missing > 0 || special.is_some();
    let all_unique = !s.overflow && s.missing == 0 && s.cells >= 20 && n_distinct as u64 == s.cells;
    let ints: Option<Vec<i64>> = numeric
        .iter()
        .map(|v| v.trim().parse::<i64>().ok())
        .collect();
    let floats: Option<Vec<f64>> = numeric
        .iter()
        .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect();
    let dates: Option<Vec<NaiveDate>> = distinct.iter().map(|v| is_date(v)).collect();

    if all_unique && floats.as_ref().is_none_or(|_| ints.is_some()) {
        out.push_str("kind = \"id\"\n");
        return;
    }
    if let Some(d) = dates.filter(|d| !d.is_empty() && !s.overflow) {
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
            let _ = writeln!(out, "min = {}", q(&lo.to_string()));
            let _ = writeln!(out, "max = {}", q(&hi.to_string()));
            let _ = writeln!(out, "unit = {}", q(unit));
            write_missing(out, has_missing, None);
            return;
        }
    }
    if n_distinct <= FEW_VALUES && !s.overflow {
        let mut values: Vec<&String> = distinct.clone();
        match ints.as_ref().filter(|_| special.is_none()) {
            Some(_) => values.sort_by_key(|v| v.trim().parse::<i64>().unwrap_or(i64::MAX)),
            None => values.sort(),
        }
        out.push_str("kind = \"categorical\"\n");
        let _ = writeln!(out, "values = {}", list(values.iter().map(|v| q(v))));
        write_missing(out, s.missing > 0, None);
        return;
    }
    if let Some(v) = ints.filter(|v| !v.is_empty() && !s.overflow) {
        let (lo, hi) = (
            v.iter().min().copied().unwrap_or(0),
            v.iter().max().copied().unwrap_or(0),
        );
        let w = (nice_width((hi - lo) as f64).round() as i64).max(1);
        let start = lo.div_euclid(w) * w;
        out.push_str("kind = \"integer\"\n");
        let _ = writeln!(out, "min = {start}\nmax = {hi}\nbin_width = {w}");
        write_missing(out, has_missing, special.as_deref());
        return;
    }
    if let Some(v) = floats.filter(|v| !v.is_empty() && !s.overflow) {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w = nice_width(hi - lo);
        let places = (-w.log10().floor()).max(0.0) as usize;
        let start: f64 = format!("{:.*}", places, (lo / w).floor() * w)
            .parse()
            .unwrap_or(lo);
        let decimals = numeric
            .iter()
            .map(|v| v.trim().split_once('.').map_or(0, |(_, f)| f.len()))
            .max()
            .unwrap_or(0)
            .min(6);
        out.push_str("kind = \"float\"\n");
        let _ = writeln!(out, "min = {}", toml::Value::Float(start.min(lo)));
        let _ = writeln!(out, "max = {}", toml::Value::Float(hi));
        let _ = writeln!(out, "bin_width = {}", toml::Value::Float(w));
        let _ = writeln!(out, "decimals = {decimals}");
        write_missing(out, has_missing, special.as_deref());
        return;
    }
    // Many distinct texts: list the most frequent, the rest go to a catch-all.
    let mut by_freq: Vec<(&String, &u64)> = s.counts.iter().collect();
    by_freq.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let listed: Vec<&String> = by_freq.iter().take(LIST_LIMIT).map(|(v, _)| *v).collect();
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
    let mag = 10f64.powf(raw.log10().floor());
    for m in [5.0, 2.0] {
        if m * mag <= raw {
            return m * mag;
        }
    }
    mag
}
