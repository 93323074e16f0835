//! Parsing and validation. Both TOML and JSON are read into one JSON tree and walked by hand,
//! so that every problem is collected (serde's derive would stop at the first).

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};

use chrono::{NaiveDate, NaiveDateTime, Timelike};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::column::{
    parse_datetime, AutoBins, BinScale, Bins, Categorical, Column, ColumnKind, DateBins,
    DateTimeBins, DateUnit, MissingPolicy, DEFAULT_AUTO_GRID, DEFAULT_AUTO_MAX_BINS, MAX_CODES,
};
use super::error::SchemaProblem;
use super::rules::{self, Rule};
use super::{ExtraColumns, Schema};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Toml,
    Json,
    Auto,
}

/// The outcome of parsing: a schema only when there were no problems. `draft` is reported
/// even when the schema is otherwise broken, so `schema check` can say so too.
pub(crate) struct Parsed {
    pub schema: Option<Schema>,
    pub problems: Vec<SchemaProblem>,
    pub draft: bool,
}

impl Parsed {
    fn fail(p: SchemaProblem) -> Self {
        Parsed {
            schema: None,
            problems: vec![p],
            draft: false,
        }
    }
}

pub(crate) fn parse(text: &str, format: Format) -> Parsed {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = match format {
        Format::Auto if text.trim_start().starts_with('{') => Format::Json,
        Format::Auto => Format::Toml,
        f => f,
    };
    match format {
        Format::Json => match serde_json::from_str::<OrderedObject>(text) {
            Ok(OrderedObject(entries)) => {
                if entries.iter().any(|(k, _)| k == "columns") {
                    from_tree(entries.into_iter().collect())
                } else {
                    from_domain(entries)
                }
            }
            Err(e) => Parsed::fail(SchemaProblem::Syntax {
                format: "JSON",
                message: e.to_string(),
            }),
        },
        _ => match toml::from_str::<toml::Table>(text) {
            Ok(t) => from_tree(toml_table(t)),
            Err(e) => {
                let line = e
                    .span()
                    .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
                let msg = e.message().trim().to_string();
                let message = match line {
                    Some(l) => format!("line {l}: {msg}"),
                    None => msg,
                };
                Parsed::fail(SchemaProblem::Syntax {
                    format: "TOML",
                    message,
                })
            }
        },
    }
}

/// A JSON object with its keys in file order (a domain file's order is the column order).
struct OrderedObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object (a schema with \"columns\", or a domain file)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<OrderedObject, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<String, Value>()? {
                    v.push((k, val));
                }
                Ok(OrderedObject(v))
            }
        }
        d.deserialize_map(V)
    }
}

fn toml_value(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        // An unquoted TOML date (`min = 2020-01-01`) reads like the quoted form.
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_value).collect()),
        toml::Value::Table(t) => Value::Object(toml_table(t)),
    }
}

fn toml_table(t: toml::Table) -> Map<String, Value> {
    t.into_iter().map(|(k, v)| (k, toml_value(v))).collect()
}

/// A benchmark domain file: column -> number of integer codes.
fn from_domain(entries: Vec<(String, Value)>) -> Parsed {
    let mut problems = Vec::new();
    let mut columns = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    if entries.is_empty() {
        problems.push(SchemaProblem::NoColumns);
    }
    for (i, (name, v)) in entries.into_iter().enumerate() {
        if let Some(&first) = seen.get(&name) {
            problems.push(SchemaProblem::DuplicateColumn {
                column: name.clone(),
                first,
            });
            continue;
        }
        seen.insert(name.clone(), i + 1);
        let n = match v.as_u64() {
            Some(n) => n as usize,
            None => {
                problems.push(SchemaProblem::WrongType {
                    column: name,
                    field: "the number of codes".into(),
                    expected: "a whole number (this looks like a benchmark domain file; a full schema needs a \"columns\" list)",
                });
                continue;
            }
        };
        if n == 0 {
            problems.push(SchemaProblem::EmptyValues { column: name });
            continue;
        }
        if n > MAX_CODES {
            problems.push(SchemaProblem::TooManyCodes {
                column: name,
                codes: n,
                limit: MAX_CODES,
            });
            continue;
        }
        let values = (0..n).map(|c| c.to_string()).collect();
        columns.push(Column {
            name,
            kind: ColumnKind::Categorical(Categorical::new(values, None, None)),
            missing: MissingPolicy::Error,
            missing_tokens: vec![String::new()],
            own_missing_tokens: false,
            missing_label: None,
            description: None,
            position: None,
        });
    }
    finish(
        columns,
        problems,
        false,
        vec![String::new()],
        ExtraColumns::Error,
        None,
    )
}

fn finish(
    columns: Vec<Column>,
    problems: Vec<SchemaProblem>,
    draft: bool,
    default_missing_tokens: Vec<String>,
    extra_columns: ExtraColumns,
    description: Option<String>,
) -> Parsed {
    let schema = problems.is_empty().then(|| Schema {
        columns,
        draft,
        default_missing_tokens,
        extra_columns,
        description,
        privacy_unit: None,
        rules: Vec::new(),
        source_name: String::new(),
    });
    Parsed {
        schema,
        problems,
        draft,
    }
}

const TOP_FIELDS: &[&str] = &[
    "draft",
    "description",
    "missing_tokens",
    "extra_columns",
    "columns",
    "privacy_unit",
    "max_rows_per_unit",
    "rules",
];
const COMMON_FIELDS: &[&str] = &[
    "name",
    "position",
    "kind",
    "missing",
    "missing_tokens",
    "missing_label",
    "description",
];

/// The largest magnitude of an integer column's bounds, edges and bin width: 2^53 - 1, so that
/// every whole number up to `max + 1` is exact in an f64.
const MAX_EXACT_INT: u64 = (1 << 53) - 1;

/// Fields of each kind (None: not a kind).
fn kind_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "categorical" => &["values", "labels", "other"],
        "integer" => &[
            "min",
            "max",
            "bin_width",
            "bin_edges",
            "bins",
            "bin_scale",
            "grid",
            "max_bins",
            "specials",
        ],
        "float" => &[
            "min",
            "max",
            "bin_width",
            "bin_edges",
            "bins",
            "bin_scale",
            "grid",
            "max_bins",
            "specials",
            "decimals",
        ],
        "date" => &["min", "max", "unit", "format"],
        "datetime" => &["min", "max", "unit", "format"],
        "id" => &["prefix"],
        "skip" => &[],
        _ => return None,
    })
}

fn from_tree(obj: Map<String, Value>) -> Parsed {
    let mut problems = Vec::new();
    let mut draft = false;
    match obj.get("draft") {
        None => {}
        Some(Value::Bool(b)) => draft = *b,
        Some(_) => problems.push(SchemaProblem::BadSetting {
            field: "draft".into(),
            message: "must be true or false".into(),
        }),
    }
    for k in obj.keys() {
        if !TOP_FIELDS.contains(&k.as_str()) {
            problems.push(SchemaProblem::BadSetting {
                field: k.clone(),
                message: format!(
                    "unknown top-level field; expected one of {}",
                    TOP_FIELDS.join(", ")
                ),
            });
        }
    }
    let description = match obj.get("description") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.push(SchemaProblem::BadSetting {
                field: "description".into(),
                message: "must be a string".into(),
            });
            None
        }
    };
    let default_tokens = match obj.get("missing_tokens") {
        None => vec![String::new()],
        Some(v) => match string_list(v) {
            Some(l) => l,
            None => {
                problems.push(SchemaProblem::BadSetting {
                    field: "missing_tokens".into(),
                    message: "must be a list of strings, e.g. [\"\", \"NA\"]".into(),
                });
                vec![String::new()]
            }
        },
    };
    let extra_columns = match obj.get("extra_columns") {
        None => ExtraColumns::Error,
        Some(Value::String(s)) if s == "error" => ExtraColumns::Error,
        Some(Value::String(s)) if s == "ignore" => ExtraColumns::Ignore,
        Some(_) => {
            problems.push(SchemaProblem::BadSetting {
                field: "extra_columns".into(),
                message: "must be \"error\" or \"ignore\"".into(),
            });
            ExtraColumns::Error
        }
    };
    let mut columns = Vec::new();
    match obj.get("columns") {
        None => problems.push(SchemaProblem::NoColumns),
        Some(Value::Array(cols)) => {
            if cols.is_empty() {
                problems.push(SchemaProblem::NoColumns);
            }
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (i, c) in cols.iter().enumerate() {
                let Value::Object(c) = c else {
                    problems.push(SchemaProblem::Structure {
                        at: format!("columns[{}]", i + 1),
                        message: "each column must be a table with a name and a kind".into(),
                    });
                    continue;
                };
                if let Some(Value::String(name)) = c.get("name") {
                    if let Some(&first) = seen.get(name) {
                        problems.push(SchemaProblem::DuplicateColumn {
                            column: name.clone(),
                            first,
                        });
                    } else {
                        seen.insert(name.clone(), i + 1);
                    }
                }
                if let Some(col) = parse_column(c, i + 1, &default_tokens, &mut problems) {
                    columns.push(col);
                }
            }
            let mut positions: HashMap<usize, &str> = HashMap::new();
            for c in &columns {
                if let Some(p) = c.position {
                    if let Some(other) = positions.insert(p, &c.name) {
                        problems.push(SchemaProblem::Structure {
                            at: format!("column {:?}", c.name),
                            message: format!(
                                "position = {p} is also the position of column {other:?}"
                            ),
                        });
                    }
                }
            }
        }
        Some(_) => problems.push(SchemaProblem::Structure {
            at: "columns".into(),
            message: "must be a list of column tables ([[columns]] in TOML)".into(),
        }),
    }
    let privacy_unit = privacy_unit(&obj, &columns, &mut problems);
    let rules = parse_rules(obj.get("rules"), &mut problems);
    let mut parsed = finish(
        columns,
        problems,
        draft,
        default_tokens,
        extra_columns,
        description,
    );
    if let Some(s) = parsed.schema.as_mut() {
        s.privacy_unit = privacy_unit;
        s.rules = rules;
        // Rules are checked against the finished columns: types, values, satisfiability.
        let p = rules::check(s);
        if !p.is_empty() {
            parsed.problems.extend(p);
            parsed.schema = None;
        }
    }
    parsed
}

/// The `[[rules]]` tables: `check` (required) and `name` (optional).
fn parse_rules(v: Option<&Value>, problems: &mut Vec<SchemaProblem>) -> Vec<Rule> {
    let Some(v) = v else {
        return Vec::new();
    };
    let Value::Array(list) = v else {
        problems.push(SchemaProblem::Structure {
            at: "rules".into(),
            message: "must be a list of rule tables ([[rules]] in TOML, each with check = \"...\")"
                .into(),
        });
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let at = format!("rules[{}]", i + 1);
        let Value::Object(r) = r else {
            problems.push(SchemaProblem::Structure {
                at,
                message: "each rule must be a table with check = \"...\" (and an optional name)"
                    .into(),
            });
            continue;
        };
        for k in r.keys() {
            if k != "check" && k != "name" {
                problems.push(SchemaProblem::Structure {
                    at: at.clone(),
                    message: format!("unknown field {k:?}; a rule has check and name"),
                });
            }
        }
        let name = match r.get("name") {
            None => None,
            Some(Value::String(n)) => Some(n.clone()),
            Some(_) => {
                problems.push(SchemaProblem::Structure {
                    at: at.clone(),
                    message: "name must be a string".into(),
                });
                continue;
            }
        };
        let check = match r.get("check") {
            Some(Value::String(c)) => c.clone(),
            Some(_) => {
                problems.push(SchemaProblem::Structure {
                    at,
                    message: "check must be a string, e.g. check = \"dtime >= rtime\"".into(),
                });
                continue;
            }
            None => {
                problems.push(SchemaProblem::Structure {
                    at,
                    message: "missing required field \"check\" (the condition, e.g. check = \"dtime >= rtime\")".into(),
                });
                continue;
            }
        };
        match rules::parse_rule(name, &check) {
            Ok(rule) => out.push(rule),
            Err(p) => problems.push(p),
        }
    }
    out
}

/// Largest `max_rows_per_unit`: the same bound as `privacy::MAX_ROWS_PER_UNIT` (a test in
/// schema::tests keeps them equal; the schema layer does not depend on the privacy layer).
pub(crate) const MAX_ROWS_PER_UNIT: u64 = 1_000_000;

/// The top-level `privacy_unit = "COLUMN"` and `max_rows_per_unit = K`: both or neither; the
/// column must be an `id` column (its values name the unit; it is never modelled).
fn privacy_unit(
    obj: &Map<String, Value>,
    columns: &[Column],
    problems: &mut Vec<SchemaProblem>,
) -> Option<(String, u32)> {
    let mut bad = |field: &str, message: String| {
        problems.push(SchemaProblem::BadSetting {
            field: field.into(),
            message,
        })
    };
    let column = match obj.get("privacy_unit") {
        None => None,
        Some(Value::String(name)) => match columns.iter().find(|c| c.name == *name) {
            Some(c) if matches!(c.kind, ColumnKind::Id { .. }) => Some(name.clone()),
            Some(c) => {
                bad(
                    "privacy_unit",
                    format!(
                        "column {name:?} is a {} column; the privacy unit must be an `id` column (its values name the person or other unit; it is not modelled)",
                        c.kind.name()
                    ),
                );
                None
            }
            None => {
                bad(
                    "privacy_unit",
                    format!("{name:?} is not a column of the schema; name an `id` column"),
                );
                None
            }
        },
        Some(_) => {
            bad("privacy_unit", "must be the name of an `id` column".into());
            None
        }
    };
    let max_rows = match obj.get("max_rows_per_unit") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(k) if (1..=MAX_ROWS_PER_UNIT).contains(&k) => Some(k as u32),
            _ => {
                bad(
                    "max_rows_per_unit",
                    format!("must be a whole number from 1 to {MAX_ROWS_PER_UNIT}"),
                );
                None
            }
        },
    };
    match (obj.contains_key("privacy_unit"), obj.contains_key("max_rows_per_unit")) {
        (true, false) => bad(
            "privacy_unit",
            "needs max_rows_per_unit = K too: the most rows of one unit the model may use (larger K keeps more rows and adds more noise)".into(),
        ),
        (false, true) => bad(
            "max_rows_per_unit",
            "needs privacy_unit = \"COLUMN\" too: the id column whose values name the unit".into(),
        ),
        _ => {}
    }
    Some((column?, max_rows?))
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_str().map(String::from))
        .collect()
}

/// Per-column parsing context: the column's label for messages and the problem sink.
struct Ctx<'a> {
    col: String,
    obj: &'a Map<String, Value>,
    problems: &'a mut Vec<SchemaProblem>,
}

impl Ctx<'_> {
    fn wrong(&mut self, field: &str, expected: &'static str) {
        self.problems.push(SchemaProblem::WrongType {
            column: self.col.clone(),
            field: field.to_string(),
            expected,
        });
    }

    fn string(&mut self, field: &str) -> Option<String> {
        match self.obj.get(field)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.wrong(field, "a string");
                None
            }
        }
    }

    fn strings(&mut self, field: &str) -> Option<Vec<String>> {
        let v = self.obj.get(field)?;
        match string_list(v) {
            Some(l) => Some(l),
            None => {
                self.wrong(field, "a list of strings");
                None
            }
        }
    }

    /// Categorical values: strings, or whole numbers (written as their decimal text).
    fn values(&mut self, field: &str) -> Option<Vec<String>> {
        let arr = match self.obj.get(field)? {
            Value::Array(a) => a,
            _ => {
                self.wrong(field, "a list of values");
                return None;
            }
        };
        let mut out = Vec::with_capacity(arr.len());
        for v in arr {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Number(n) if n.is_i64() || n.is_u64() => out.push(n.to_string()),
                _ => {
                    self.wrong(field, "a list of strings or whole numbers");
                    return None;
                }
            }
        }
        Some(out)
    }

    fn number(&mut self, field: &str, integer: bool) -> Option<f64> {
        let v = self.obj.get(field)?;
        self.as_number(field, v, integer)
    }

    fn as_number(&mut self, field: &str, v: &Value, integer: bool) -> Option<f64> {
        match v {
            // Integer bins are kept as f64 edges (the last one `max + 1`), so bounds must be
            // whole numbers an f64 holds exactly, with room for that `+ 1`.
            Value::Number(n) if integer => match n.as_i64() {
                Some(i) if i.unsigned_abs() <= MAX_EXACT_INT => Some(i as f64),
                _ => {
                    self.wrong(
                        field,
                        "a whole number from -9007199254740991 to 9007199254740991 (2^53 - 1) \
                         in an integer column",
                    );
                    None
                }
            },
            Value::Number(n) => n.as_f64(),
            _ => {
                self.wrong(
                    field,
                    if integer {
                        "a whole number"
                    } else {
                        "a number"
                    },
                );
                None
            }
        }
    }

    fn numbers(&mut self, field: &str, integer: bool) -> Option<Vec<f64>> {
        let arr = match self.obj.get(field)? {
            Value::Array(a) => a.clone(),
            _ => {
                self.wrong(field, "a list of numbers");
                return None;
            }
        };
        let mut out = Vec::with_capacity(arr.len());
        for v in &arr {
            out.push(self.as_number(field, v, integer)?);
        }
        Some(out)
    }

    fn push(&mut self, p: SchemaProblem) {
        self.problems.push(p);
    }
}

fn parse_column(
    obj: &Map<String, Value>,
    index: usize,
    default_tokens: &[String],
    problems: &mut Vec<SchemaProblem>,
) -> Option<Column> {
    let name = match obj.get("name") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            problems.push(SchemaProblem::Structure {
                at: format!("column {index}"),
                message: "the name is empty; for a file whose header cell has no name, give a placeholder name and the column's position (name = \"row_index\", position = 1)".into(),
            });
            None
        }
        Some(_) => {
            problems.push(SchemaProblem::Structure {
                at: format!("column {index}"),
                message: "name must be a string".into(),
            });
            None
        }
        None => {
            problems.push(SchemaProblem::Structure {
                at: format!("column {index}"),
                message: "missing required field \"name\"".into(),
            });
            None
        }
    };
    let label = name.clone().unwrap_or_else(|| format!("#{index}"));
    let mut cx = Ctx {
        col: label.clone(),
        obj,
        problems,
    };
    let kind_name = match obj.get("kind") {
        Some(Value::String(k)) => k.clone(),
        Some(_) => {
            cx.wrong("kind", "a string");
            return None;
        }
        None => {
            cx.push(SchemaProblem::MissingField {
                column: label,
                field: "kind",
                why: "one of categorical, integer, float, date, datetime, id, skip",
            });
            return None;
        }
    };
    let Some(fields) = kind_fields(&kind_name) else {
        cx.push(SchemaProblem::UnknownKind {
            column: label,
            kind: kind_name,
        });
        return None;
    };
    for k in obj.keys() {
        if !COMMON_FIELDS.contains(&k.as_str()) && !fields.contains(&k.as_str()) {
            cx.push(SchemaProblem::UnknownField {
                column: label.clone(),
                field: k.clone(),
                kind: kind_name.clone(),
            });
        }
    }
    let before = cx.problems.len();

    let missing = match cx.string("missing").as_deref() {
        None | Some("error") => MissingPolicy::Error,
        Some("category") => MissingPolicy::Category,
        Some(other) => {
            cx.push(SchemaProblem::BadMissing {
                column: label.clone(),
                message: format!(
                    "missing = {other:?} is not a policy; use \"error\" or \"category\""
                ),
            });
            MissingPolicy::Error
        }
    };
    let own_tokens = cx.strings("missing_tokens");
    let own_missing_tokens = own_tokens.is_some();
    let missing_tokens = own_tokens.unwrap_or_else(|| default_tokens.to_vec());
    if missing == MissingPolicy::Category && missing_tokens.is_empty() {
        cx.push(SchemaProblem::BadMissing {
            column: label.clone(),
            message: "missing = \"category\" but no missing tokens; list them in missing_tokens"
                .into(),
        });
    }
    let missing_label = cx.string("missing_label");
    let description = cx.string("description");
    let position = match cx.obj.get("position") {
        None => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|p| p >= 1) => {
            n.as_u64().map(|p| p as usize)
        }
        Some(_) => {
            cx.wrong(
                "position",
                "the column's 1-based position in the file (1, 2, ...)",
            );
            None
        }
    };

    let kind = match kind_name.as_str() {
        "categorical" => parse_categorical(&mut cx, &missing_tokens),
        "integer" => parse_bins(&mut cx, true).map(ColumnKind::Integer),
        "float" => parse_bins(&mut cx, false).map(ColumnKind::Float),
        "date" => parse_date(&mut cx),
        "datetime" => parse_datetime_kind(&mut cx),
        "skip" => Some(ColumnKind::Skip),
        _ => Some(ColumnKind::Id {
            prefix: cx.string("prefix"),
        }),
    };
    if kind.is_none() && cx.problems.len() == before {
        // Every path that yields no kind reports why; this keeps a column from vanishing
        // silently should one ever not.
        cx.push(SchemaProblem::Structure {
            at: format!("column {label:?}"),
            message: "could not be read".into(),
        });
    }
    let col = Column {
        name: name?,
        kind: kind?,
        missing,
        missing_tokens,
        own_missing_tokens,
        missing_label,
        description,
        position,
    };
    // A number or date token inside the bounds would make that value unreadable, and
    // decoding could write it (categorical lists are checked against the tokens above).
    if !matches!(col.kind, ColumnKind::Categorical(_)) {
        for t in &col.missing_tokens {
            if col.reads_as_value(t) {
                cx.push(SchemaProblem::TokenIsValue {
                    column: label.clone(),
                    token: t.clone(),
                });
            }
        }
    }
    if col.cardinality() > MAX_CODES {
        cx.push(SchemaProblem::TooManyCodes {
            column: label,
            codes: col.cardinality(),
            limit: MAX_CODES,
        });
    }
    (cx.problems.len() == before).then_some(col)
}

fn parse_categorical(cx: &mut Ctx, missing_tokens: &[String]) -> Option<ColumnKind> {
    let col = cx.col.clone();
    let values = match cx.values("values") {
        Some(v) => v,
        None if cx.obj.contains_key("values") => return None,
        None => {
            cx.push(SchemaProblem::MissingField {
                column: col,
                field: "values",
                why: "the public list of values",
            });
            return None;
        }
    };
    let labels = cx.strings("labels");
    let other = cx.string("other");
    let mut ok = true;
    if values.is_empty() {
        cx.push(SchemaProblem::EmptyValues {
            column: col.clone(),
        });
        ok = false;
    }
    let mut seen = HashSet::new();
    for v in values.iter().chain(other.iter()) {
        if !seen.insert(v.as_str()) {
            cx.push(SchemaProblem::DuplicateValue {
                column: col.clone(),
                value: v.clone(),
            });
            ok = false;
        }
    }
    for t in missing_tokens {
        if seen.contains(t.as_str()) {
            cx.push(SchemaProblem::TokenIsValue {
                column: col.clone(),
                token: t.clone(),
            });
            ok = false;
        }
    }
    if let Some(l) = &labels {
        if l.len() != values.len() {
            cx.push(SchemaProblem::LabelCount {
                column: col.clone(),
                labels: l.len(),
                values: values.len(),
            });
            ok = false;
        }
    }
    ok.then(|| ColumnKind::Categorical(Categorical::new(values, labels, other)))
}

fn fmt_num(x: f64, integer: bool) -> String {
    if integer {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// How the bins of a numeric column are laid out.
enum Layout {
    Width(f64),
    Edges(Vec<f64>),
    Count(usize),
    Auto(AutoBins),
}

fn parse_bins(cx: &mut Ctx, integer: bool) -> Option<Bins> {
    let col = cx.col.clone();
    let n_before = cx.problems.len();
    let min = cx.number("min", integer);
    let max = cx.number("max", integer);
    let width = cx.number("bin_width", integer);
    let given_edges = cx.numbers("bin_edges", integer);
    let specials = cx.numbers("specials", integer).unwrap_or_default();
    let decimals = match cx.obj.get("decimals") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(d) if d <= 15 => Some(d as u32),
            _ => {
                cx.wrong("decimals", "a whole number from 0 to 15");
                None
            }
        },
    };
    let whole_at_least = |cx: &mut Ctx, field: &str, least: u64| -> Option<usize> {
        match cx.obj.get(field)? {
            Value::Number(n) => match n.as_u64() {
                Some(k) if k >= least => Some(k as usize),
                _ => {
                    cx.wrong(field, "a whole number of at least 2");
                    None
                }
            },
            _ => {
                cx.wrong(field, "a whole number of at least 2");
                None
            }
        }
    };
    let grid = whole_at_least(cx, "grid", 2);
    let max_bins = whole_at_least(cx, "max_bins", 2);
    let count = match cx.obj.get("bins") {
        None => None,
        Some(Value::String(s)) if s == "auto" => Some(Err(())),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|k| k >= 1) => {
            Some(Ok(n.as_u64().unwrap_or(1) as usize))
        }
        Some(_) => {
            cx.wrong("bins", "a whole number of bins, or \"auto\"");
            None
        }
    };
    let scale = match cx.string("bin_scale").as_deref() {
        None | Some("linear") => BinScale::Linear,
        Some("log") => BinScale::Log,
        Some(other) => {
            cx.push(SchemaProblem::BadBins {
                column: col.clone(),
                message: format!("bin_scale = {other:?} is not a scale; use \"linear\" or \"log\""),
            });
            BinScale::Linear
        }
    };
    if cx.problems.len() > n_before {
        return None;
    }
    let given = [width.is_some(), given_edges.is_some(), count.is_some()]
        .iter()
        .filter(|&&b| b)
        .count();
    if given > 1 {
        cx.push(SchemaProblem::BadBins {
            column: col,
            message: "give one of bin_width, bin_edges and bins, not several".into(),
        });
        return None;
    }
    if (grid.is_some() || max_bins.is_some()) && !matches!(count, Some(Err(()))) {
        cx.push(SchemaProblem::BadBins {
            column: col,
            message: "grid and max_bins belong to bins = \"auto\"".into(),
        });
        return None;
    }
    let (lo, hi) = match (min, max, &given_edges) {
        (Some(a), Some(b), _) => (a, b),
        (a, b, Some(e)) if e.len() >= 2 => (a.unwrap_or(e[0]), b.unwrap_or(e[e.len() - 1])),
        (a, _, _) => {
            let field = if a.is_none() { "min" } else { "max" };
            cx.push(SchemaProblem::MissingField {
                column: col,
                field,
                why: "the public bound; or give at least two bin_edges",
            });
            return None;
        }
    };
    if !lo.is_finite() || !hi.is_finite() {
        cx.push(SchemaProblem::BadBins {
            column: col,
            message: "bounds must be finite".into(),
        });
        return None;
    }
    if lo > hi {
        cx.push(SchemaProblem::ReversedBounds {
            column: col,
            min: fmt_num(lo, integer),
            max: fmt_num(hi, integer),
        });
        return None;
    }
    if scale == BinScale::Log {
        if lo <= 0.0 {
            cx.push(SchemaProblem::BadBins {
                column: col,
                message: format!(
                    "bin_scale = \"log\" needs min > 0 (min is {}); declare 0 as a special value (specials = [0]) and set min to the smallest positive value",
                    fmt_num(lo, integer)
                ),
            });
            return None;
        }
        if width.is_some() {
            cx.push(SchemaProblem::BadBins {
                column: col,
                message: "bin_width is a width on the linear scale; with bin_scale = \"log\" give bins = N, bins = \"auto\" or bin_edges".into(),
            });
            return None;
        }
    }
    let layout = match (width, given_edges.clone(), count) {
        (Some(w), _, _) => Layout::Width(w),
        (_, Some(e), _) => Layout::Edges(e),
        (_, _, Some(Ok(n))) => Layout::Count(n),
        (_, _, Some(Err(()))) => Layout::Auto(AutoBins {
            grid: grid.unwrap_or(DEFAULT_AUTO_GRID),
            max_bins: max_bins.unwrap_or(DEFAULT_AUTO_MAX_BINS),
        }),
        _ if integer => Layout::Width(1.0),
        _ => {
            cx.push(SchemaProblem::MissingField {
                column: col,
                field: "bin_width",
                why: "float columns need bin_width, bin_edges or bins",
            });
            return None;
        }
    };
    // Bin starts after `lo`; the effective edges are lo, starts..., end.
    let mut starts: Vec<f64> = Vec::new();
    let mut auto = None;
    match &layout {
        Layout::Edges(edges) => {
            let mut ok = true;
            for (i, &e) in edges.iter().enumerate() {
                if i > 0 && e <= edges[i - 1] {
                    cx.push(SchemaProblem::NonIncreasingEdges {
                        column: col.clone(),
                        index: i + 1,
                        edge: fmt_num(e, integer),
                    });
                    ok = false;
                }
                if e < lo || e > hi {
                    cx.push(SchemaProblem::EdgeOutsideBounds {
                        column: col.clone(),
                        edge: fmt_num(e, integer),
                        min: fmt_num(lo, integer),
                        max: fmt_num(hi, integer),
                    });
                    ok = false;
                }
            }
            if !ok {
                return None;
            }
            // An edge equal to a bound marks the bound, not a bin of its own.
            starts.extend(edges.iter().copied().filter(|&e| e > lo && e < hi));
        }
        Layout::Width(w) => {
            let w = *w;
            if !(w.is_finite() && w > 0.0) {
                cx.push(SchemaProblem::BadBins {
                    column: col,
                    message: format!("bin_width must be positive, got {}", fmt_num(w, integer)),
                });
                return None;
            }
            let n = ((hi - lo) / w).floor() + 1.0;
            if n > MAX_CODES as f64 {
                cx.push(SchemaProblem::TooManyCodes {
                    column: col,
                    codes: n as usize,
                    limit: MAX_CODES,
                });
                return None;
            }
            // Integer bins start at every lo + k*w up to and including hi; float bins need
            // positive width, so the last start lies strictly below hi.
            let mut k = 1.0;
            loop {
                let s = lo + k * w;
                if s > hi || (!integer && s >= hi) {
                    break;
                }
                starts.push(s);
                k += 1.0;
            }
        }
        Layout::Auto(a) if !(integer && hi - lo + 1.0 <= a.grid as f64) => {
            if a.grid > MAX_CODES {
                cx.push(SchemaProblem::TooManyCodes {
                    column: col,
                    codes: a.grid,
                    limit: MAX_CODES,
                });
                return None;
            }
            auto = Some(*a);
            starts = round_grid(lo, hi, a.grid, scale, integer, decimals);
        }
        Layout::Count(n) | Layout::Auto(AutoBins { grid: n, .. }) => {
            let n = *n;
            if n > MAX_CODES {
                cx.push(SchemaProblem::TooManyCodes {
                    column: col,
                    codes: n,
                    limit: MAX_CODES,
                });
                return None;
            }
            if let Layout::Auto(a) = &layout {
                auto = Some(*a);
            }
            // Integers with fewer values than bins get one bin per value.
            if integer && hi - lo + 1.0 <= n as f64 {
                let mut s = lo + 1.0;
                while s <= hi {
                    starts.push(s);
                    s += 1.0;
                }
            } else {
                for k in 1..n {
                    let f = k as f64 / n as f64;
                    let e = match scale {
                        BinScale::Linear => lo + f * (hi - lo),
                        BinScale::Log => (lo.ln() + f * (hi.ln() - lo.ln())).exp(),
                    };
                    let e = if integer { e.round() } else { e };
                    let above_last = starts.last().is_none_or(|&l| e > l);
                    if e > lo && (e < hi || (integer && e <= hi)) && above_last {
                        starts.push(e);
                    }
                }
            }
        }
    }
    let mut edges = Vec::with_capacity(starts.len() + 2);
    edges.push(lo);
    edges.extend(starts);
    edges.push(if integer { hi + 1.0 } else { hi });
    if integer && decimals.is_some() {
        cx.push(SchemaProblem::UnknownField {
            column: col,
            field: "decimals".into(),
            kind: "integer".into(),
        });
        return None;
    }
    let axis = Bins::axis_for(integer, decimals, lo, hi);
    let bins = Bins {
        min: lo,
        max: hi,
        width,
        given_edges,
        count: match count {
            Some(Ok(n)) => Some(n),
            _ => None,
        },
        auto,
        scale,
        edges,
        decimals,
        integer,
        specials: Vec::new(),
        axis,
    };
    // Special values: distinct, finite, and written back exactly.
    let mut seen: Vec<f64> = Vec::new();
    for &x in &specials {
        let problem = if !x.is_finite() {
            Some("must be finite".to_string())
        } else if seen.contains(&x) {
            Some("is declared twice".to_string())
        } else {
            let probe = Bins {
                specials: vec![x],
                ..bins.clone()
            };
            let text = probe.format_axis(probe.special_axis(0));
            (text.parse::<f64>().ok() != Some(x)).then(|| {
                format!("cannot be written exactly with the column's decimals (it would be written as {text})")
            })
        };
        if let Some(p) = problem {
            cx.push(SchemaProblem::BadBins {
                column: col.clone(),
                message: format!("special value {x} {p}"),
            });
            return None;
        }
        seen.push(x);
    }
    let bins = Bins {
        specials: seen,
        ..bins
    };
    // Every bin must be able to write some value.
    for i in 0..bins.n_bins() {
        if bins.bin_values(i).is_empty() {
            let why = match (bins.decimals, bins.specials.is_empty()) {
                (Some(d), _) => format!("no number with {d} decimals lies in it"),
                (None, false) => "its only values are special values".to_string(),
                _ => "it holds no value".to_string(),
            };
            cx.push(SchemaProblem::BadBins {
                column: col,
                message: format!(
                    "bin {} can never be written: {why}; merge it with a neighbour",
                    bins.code_label(i)
                ),
            });
            return None;
        }
    }
    Some(bins)
}

/// The inner edges of an automatic grid (`bins = "auto"`) of about `n` cells between `lo`
/// and `hi`, placed on round numbers. Linear scale: the cells are as wide as the smallest
/// 1, 2, 2.5 or 5 times a power of ten that is at least `(hi - lo) / n` (a whole number
/// for integers, at least `10^-decimals` with decimals), and the edges are its multiples,
/// so 0 and round values are edges: an income grid from -9,000 to 1,341,000 in steps of
/// 10,000 puts every zero income in [0, 10,000) instead of a cell from -9,000 to 1,546,
/// whose within-bin density wrote most of them as negative incomes. Log scale: the same
/// number of cells per decade, anchored on the powers of ten, edges rounded to three
/// significant digits (and to whole numbers, or to `decimals`). Edges are a function of
/// the schema alone (public; proofs/mst.md, step 2, "Automatic bins").
fn round_grid(
    lo: f64,
    hi: f64,
    n: usize,
    scale: BinScale,
    integer: bool,
    decimals: Option<u32>,
) -> Vec<f64> {
    let n = n.max(1);
    // The narrowest cell that can hold a written value.
    let least = if integer {
        1.0
    } else {
        decimals.map_or(0.0, |d| 10f64.powi(-(d as i32)))
    };
    let mut starts: Vec<f64> = Vec::new();
    let mut push = |e: f64| {
        let inside = e > lo && (e < hi || (integer && e <= hi));
        let after = starts.last().map_or(e - lo, |&l| e - l);
        if inside && after > 0.0 && after >= least * (1.0 - 1e-9) {
            starts.push(e);
        }
    };
    match scale {
        BinScale::Linear => {
            let raw = ((hi - lo) / n as f64).max(least);
            if !(raw.is_finite() && raw > 0.0) {
                return Vec::new();
            }
            let p = raw.log10().floor() as i32;
            let unit = 10f64.powi(p);
            let m = [1.0, 2.0, 2.5, 5.0, 10.0]
                .into_iter()
                .find(|&m| {
                    let w = m * unit;
                    w >= raw * (1.0 - 1e-12) && !(integer && w.fract() != 0.0)
                })
                .unwrap_or(10.0);
            let step = m * unit;
            let mut k = (lo / step).floor() + 1.0;
            loop {
                // Rounded to the step's decimals so that 0.3 prints as 0.3.
                let e = round_to(k * step, 1 - p);
                if e > hi {
                    break;
                }
                push(e);
                k += 1.0;
            }
        }
        BinScale::Log => {
            let decades = hi.log10() - lo.log10();
            if !(decades.is_finite() && decades > 0.0) {
                return Vec::new();
            }
            let per = (n as f64 / decades).ceil();
            let mut j = (lo.log10() * per).floor() + 1.0;
            loop {
                let x = 10f64.powf(j / per);
                if !x.is_finite() || x > hi {
                    break;
                }
                let mut e = round_to(x, 2 - x.log10().floor() as i32);
                if integer {
                    e = e.round();
                } else if let Some(d) = decimals {
                    e = round_to(e, d as i32);
                }
                push(e);
                j += 1.0;
            }
        }
    }
    starts
}

/// `x` rounded to `d` decimals (`d` may be negative: tens, hundreds, ...).
fn round_to(x: f64, d: i32) -> f64 {
    if d >= 0 {
        let f = 10f64.powi(d);
        (x * f).round() / f
    } else {
        let f = 10f64.powi(-d);
        (x / f).round() * f
    }
}

fn parse_iso_date(cx: &mut Ctx, field: &'static str) -> Option<NaiveDate> {
    let s = match cx.obj.get(field) {
        None => {
            cx.push(SchemaProblem::MissingField {
                column: cx.col.clone(),
                field,
                why: "the public bound as an ISO date, e.g. \"2020-01-01\"",
            });
            return None;
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            cx.wrong(field, "an ISO date such as \"2020-01-01\"");
            return None;
        }
    };
    match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            cx.push(SchemaProblem::BadDate {
                column: cx.col.clone(),
                message: format!("{field} = {s:?} is not an ISO date (YYYY-MM-DD)"),
            });
            None
        }
    }
}

fn parse_date(cx: &mut Ctx) -> Option<ColumnKind> {
    let col = cx.col.clone();
    let min = parse_iso_date(cx, "min");
    let max = parse_iso_date(cx, "max");
    let unit = match cx.string("unit") {
        None => {
            cx.push(SchemaProblem::MissingField {
                column: col.clone(),
                field: "unit",
                why: "the bin unit: day, week, month or year",
            });
            None
        }
        Some(u) => match DateUnit::parse(&u) {
            Some(u) if !u.is_time() => Some(u),
            Some(_) => {
                cx.push(SchemaProblem::BadDate {
                    column: col.clone(),
                    message: format!(
                        "unit = {u:?} is finer than a day; use kind = \"datetime\" for times of day"
                    ),
                });
                None
            }
            None => {
                cx.push(SchemaProblem::BadDate {
                    column: col.clone(),
                    message: format!("unit = {u:?} is not one of day, week, month, year"),
                });
                None
            }
        },
    };
    let format = cx.string("format");
    if let Some(f) = &format {
        // A format that cannot print a date is useless for decoding; chrono reports it
        // through a fmt error when the items are invalid.
        let probe = NaiveDate::from_ymd_opt(2001, 2, 3).unwrap_or_default();
        let items = chrono::format::StrftimeItems::new(f);
        if items
            .clone()
            .any(|i| matches!(i, chrono::format::Item::Error))
        {
            cx.push(SchemaProblem::BadDate {
                column: col.clone(),
                message: format!("format {f:?} is not a valid chrono/strftime date format"),
            });
            return None;
        }
        // Fields a date does not have (hours, time zones, ...) make printing fail; collect
        // the error rather than `to_string()`, which would panic on it.
        let mut text = String::new();
        if write!(text, "{}", probe.format_with_items(items)).is_err() {
            cx.push(SchemaProblem::BadDate {
                column: col.clone(),
                message: format!(
                    "format {f:?} cannot print a date (it asks for a time or time zone field)"
                ),
            });
            return None;
        }
        if NaiveDate::parse_from_str(&text, f) != Ok(probe) {
            cx.push(SchemaProblem::BadDate {
                column: col.clone(),
                message: format!(
                    "format {f:?} does not identify a single day (it needs year, month and day)"
                ),
            });
            return None;
        }
    }
    let (min, max, unit) = (min?, max?, unit?);
    if min > max {
        cx.push(SchemaProblem::ReversedBounds {
            column: col,
            min: min.to_string(),
            max: max.to_string(),
        });
        return None;
    }
    if let Some(f) = &format {
        // A format that drops digits (a two-digit year, say) reads other dates as the wrong
        // day: decoded values would land in another bin. Two-digit years read into the one
        // window 1970-2069, so both bounds reading back means every day between does too.
        // Cells are trimmed before parsing, so the check trims too.
        for d in [min, max] {
            let mut text = String::new();
            let ok = write!(text, "{}", d.format(f)).is_ok()
                && NaiveDate::parse_from_str(text.trim(), f) == Ok(d);
            if !ok {
                cx.push(SchemaProblem::BadDate {
                    column: col,
                    message: format!(
                        "format {f:?} does not read back the bound {d} (it writes {text:?}); \
                         use a four-digit year (%Y) or bounds the format can express"
                    ),
                });
                return None;
            }
        }
    }
    match DateBins::new(min, max, unit, format) {
        Ok(d) => Some(ColumnKind::Date(d)),
        Err(n) => {
            cx.push(SchemaProblem::TooManyCodes {
                column: col,
                codes: n,
                limit: MAX_CODES,
            });
            None
        }
    }
}

/// A date-time bound: ISO 8601 with `T` or a space, to the minute; a date alone means the
/// start of the day for `min` and its last minute for `max`.
fn parse_iso_datetime(cx: &mut Ctx, field: &'static str) -> Option<NaiveDateTime> {
    let s = match cx.obj.get(field) {
        None => {
            cx.push(SchemaProblem::MissingField {
                column: cx.col.clone(),
                field,
                why: "the public bound as an ISO date-time, e.g. \"2020-01-01T00:00\"",
            });
            return None;
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            cx.wrong(field, "an ISO date-time such as \"2020-01-01T00:00\"");
            return None;
        }
    };
    let t = parse_datetime(&s, None).or_else(|| {
        let d = NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok()?;
        if field == "max" {
            d.and_hms_opt(23, 59, 0)
        } else {
            d.and_hms_opt(0, 0, 0)
        }
    });
    match t {
        Some(t) if t.second() == 0 && t.nanosecond() == 0 => Some(t),
        Some(_) => {
            cx.push(SchemaProblem::BadDate {
                column: cx.col.clone(),
                message: format!(
                    "{field} = {s:?} has seconds; date-times are modelled to the minute, so bounds are whole minutes"
                ),
            });
            None
        }
        None => {
            cx.push(SchemaProblem::BadDate {
                column: cx.col.clone(),
                message: format!(
                    "{field} = {s:?} is not an ISO date-time (YYYY-MM-DDTHH:MM or YYYY-MM-DD HH:MM)"
                ),
            });
            None
        }
    }
}

fn parse_datetime_kind(cx: &mut Ctx) -> Option<ColumnKind> {
    let col = cx.col.clone();
    let min = parse_iso_datetime(cx, "min");
    let max = parse_iso_datetime(cx, "max");
    let unit = match cx.string("unit") {
        None => {
            cx.push(SchemaProblem::MissingField {
                column: col.clone(),
                field: "unit",
                why: "the bin unit: minute, hour, day, week, month or year",
            });
            None
        }
        Some(u) => match DateUnit::parse(&u) {
            Some(u) => Some(u),
            None => {
                cx.push(SchemaProblem::BadDate {
                    column: col.clone(),
                    message: format!(
                        "unit = {u:?} is not one of minute, hour, day, week, month, year"
                    ),
                });
                None
            }
        },
    };
    let format = cx.string("format");
    if let Some(f) = &format {
        // The format must print a date-time and read it back to the minute.
        let probe = NaiveDate::from_ymd_opt(2001, 2, 3)
            .and_then(|d| d.and_hms_opt(4, 5, 0))
            .unwrap_or_default();
        let items = chrono::format::StrftimeItems::new(f);
        let mut text = String::new();
        let printable = !items
            .clone()
            .any(|i| matches!(i, chrono::format::Item::Error))
            && write!(text, "{}", probe.format_with_items(items)).is_ok();
        if !printable || NaiveDateTime::parse_from_str(text.trim(), f) != Ok(probe) {
            cx.push(SchemaProblem::BadDate {
                column: col,
                message: format!(
                    "format {f:?} does not identify a date-time to the minute (it needs year, month, day, hour and minute)"
                ),
            });
            return None;
        }
    }
    let (min, max, unit) = (min?, max?, unit?);
    if min > max {
        cx.push(SchemaProblem::ReversedBounds {
            column: col,
            min: min.to_string(),
            max: max.to_string(),
        });
        return None;
    }
    match DateTimeBins::new(min, max, unit, format) {
        Ok(d) => Some(ColumnKind::DateTime(d)),
        Err(n) => {
            cx.push(SchemaProblem::TooManyCodes {
                column: col,
                codes: n,
                limit: MAX_CODES,
            });
            None
        }
    }
}
