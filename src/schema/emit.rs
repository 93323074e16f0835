//! Writing a schema back as TOML (for embedding in models and certificates, and for drafts).
//! The output parses back to an equal schema; bins keep the form they were given in.

use std::fmt::Write;

use super::column::{BinScale, Bins, ColumnKind, MissingPolicy};
use super::{ExtraColumns, Schema};

/// A TOML string literal with escapes.
pub(crate) fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn num(x: f64, integer: bool) -> String {
    if integer {
        format!("{}", x as i64)
    } else {
        toml::Value::Float(x).to_string()
    }
}

pub(crate) fn list<I: IntoIterator<Item = String>>(items: I) -> String {
    let v: Vec<String> = items.into_iter().collect();
    format!("[{}]", v.join(", "))
}

pub(crate) fn to_toml(s: &Schema) -> String {
    let mut out = String::new();
    if s.draft {
        out.push_str("draft = true\n");
    }
    if let Some(d) = &s.description {
        let _ = writeln!(out, "description = {}", q(d));
    }
    if s.default_missing_tokens != [String::new()] {
        let _ = writeln!(
            out,
            "missing_tokens = {}",
            list(s.default_missing_tokens.iter().map(|t| q(t)))
        );
    }
    if s.extra_columns == ExtraColumns::Ignore {
        out.push_str("extra_columns = \"ignore\"\n");
    }
    if let Some((column, k)) = &s.privacy_unit {
        let _ = writeln!(out, "privacy_unit = {}", q(column));
        let _ = writeln!(out, "max_rows_per_unit = {k}");
    }
    for c in &s.columns {
        out.push_str("\n[[columns]]\n");
        let _ = writeln!(out, "name = {}", q(&c.name));
        if let Some(p) = c.position {
            let _ = writeln!(out, "position = {p}");
        }
        let _ = writeln!(out, "kind = {}", q(c.kind.name()));
        if let Some(d) = &c.description {
            let _ = writeln!(out, "description = {}", q(d));
        }
        match &c.kind {
            ColumnKind::Categorical(cat) => {
                let _ = writeln!(out, "values = {}", list(cat.values.iter().map(|v| q(v))));
                if let Some(l) = &cat.labels {
                    let _ = writeln!(out, "labels = {}", list(l.iter().map(|v| q(v))));
                }
                if let Some(o) = &cat.other {
                    let _ = writeln!(out, "other = {}", q(o));
                }
            }
            ColumnKind::Integer(b) | ColumnKind::Float(b) => write_bins(&mut out, b),
            ColumnKind::DateTime(d) => {
                let _ = writeln!(
                    out,
                    "min = {}",
                    q(&d.min.format("%Y-%m-%dT%H:%M").to_string())
                );
                let _ = writeln!(
                    out,
                    "max = {}",
                    q(&d.max.format("%Y-%m-%dT%H:%M").to_string())
                );
                let _ = writeln!(out, "unit = {}", q(d.unit.as_str()));
                if let Some(f) = &d.format {
                    let _ = writeln!(out, "format = {}", q(f));
                }
            }
            ColumnKind::Skip => {}
            ColumnKind::Date(d) => {
                let _ = writeln!(out, "min = {}", q(&d.min.format("%Y-%m-%d").to_string()));
                let _ = writeln!(out, "max = {}", q(&d.max.format("%Y-%m-%d").to_string()));
                let _ = writeln!(out, "unit = {}", q(d.unit.as_str()));
                if let Some(f) = &d.format {
                    let _ = writeln!(out, "format = {}", q(f));
                }
            }
            ColumnKind::Id { prefix } => {
                if let Some(p) = prefix {
                    let _ = writeln!(out, "prefix = {}", q(p));
                }
            }
        }
        if c.missing == MissingPolicy::Category {
            out.push_str("missing = \"category\"\n");
        }
        if c.own_missing_tokens {
            let _ = writeln!(
                out,
                "missing_tokens = {}",
                list(c.missing_tokens.iter().map(|t| q(t)))
            );
        }
        if let Some(l) = &c.missing_label {
            let _ = writeln!(out, "missing_label = {}", q(l));
        }
    }
    for r in &s.rules {
        out.push_str("\n[[rules]]\n");
        if let Some(n) = &r.name {
            let _ = writeln!(out, "name = {}", q(n));
        }
        let _ = writeln!(out, "check = {}", q(&r.check));
    }
    out
}

fn write_bins(out: &mut String, b: &Bins) {
    let _ = writeln!(out, "min = {}", num(b.min, b.integer));
    let _ = writeln!(out, "max = {}", num(b.max, b.integer));
    if let Some(w) = b.width {
        let _ = writeln!(out, "bin_width = {}", num(w, b.integer));
    }
    if let Some(e) = &b.given_edges {
        let _ = writeln!(
            out,
            "bin_edges = {}",
            list(e.iter().map(|&x| num(x, b.integer)))
        );
    }
    if let Some(n) = b.count {
        let _ = writeln!(out, "bins = {n}");
    }
    if let Some(a) = b.auto {
        out.push_str("bins = \"auto\"\n");
        if a.grid != super::DEFAULT_AUTO_GRID {
            let _ = writeln!(out, "grid = {}", a.grid);
        }
        if a.max_bins != super::DEFAULT_AUTO_MAX_BINS {
            let _ = writeln!(out, "max_bins = {}", a.max_bins);
        }
    }
    if b.scale == BinScale::Log {
        out.push_str("bin_scale = \"log\"\n");
    }
    if !b.specials.is_empty() {
        let _ = writeln!(
            out,
            "specials = {}",
            list(b.specials.iter().map(|&x| num(x, b.integer)))
        );
    }
    if let Some(d) = b.decimals {
        let _ = writeln!(out, "decimals = {d}");
    }
}
