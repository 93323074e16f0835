//! Shared pieces of the fuzz targets: a structured schema generator (rendered to TOML so the
//! real parser validates it), a structured CSV generator, and the oracles every target checks.
//!
//! The generators are deliberately biased towards the edges that matter here: bounds near
//! the limits of `i64`/`f64` and of exact integers in `f64`, odd date formats, values that
//! collide with missing tokens, and text that needs CSV quoting.

use dpsynth::schema::{ColumnKind, MissingPolicy, Schema, MAX_CODES};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::fmt::Write;
use std::sync::OnceLock;

/// The two schemas shipped with the repository, for targets that also want realistic input.
pub const ADMISSIONS_SCHEMA: &str = include_str!("../../examples/data/admissions.schema.toml");
pub const NIST_SCHEMA: &str = include_str!("../../examples/nist/national2019.schema.toml");

const MAX_COLUMNS: usize = 8;
const MAX_LIST: usize = 40;

/// Short texts that exercise missing tokens, catch-alls, quoting and trimming.
const VOCAB: &[&str] = &[
    "a",
    "b",
    "c",
    "",
    " ",
    "NA",
    "N/A",
    "NULL",
    "?",
    "-",
    "Other",
    "x,y",
    "\"q\"",
    "line\nbreak",
    "cr\r",
    "é",
    "0",
    "1",
    "01",
    "1.0",
    " 1",
    "-1",
    "1e3",
    "nan",
    "inf",
    "2020-01-01",
    "\u{feff}a",
    "a\u{0}b",
    "#",
    "[x]",
    "'",
    "\\",
];

fn pick(i: u8) -> &'static str {
    VOCAB[i as usize % VOCAB.len()]
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A short text: usually from [`VOCAB`], sometimes arbitrary.
#[derive(Arbitrary, Debug, Clone)]
pub enum Text {
    Pick(u8),
    Raw(String),
}

impl Text {
    pub fn render(&self) -> String {
        match self {
            Text::Pick(i) => pick(*i).to_string(),
            Text::Raw(s) => s.chars().take(24).collect(),
        }
    }
}

/// A column name: mostly from a handful, so duplicates and header matches happen.
#[derive(Arbitrary, Debug, Clone)]
pub enum Name {
    Pick(u8),
    Raw(String),
}

const NAMES: &[&str] = &["a", "b", "c", "d", "age", "id", "", "A a", "x,y", "é"];

impl Name {
    pub fn render(&self) -> String {
        match self {
            Name::Pick(i) => NAMES[*i as usize % NAMES.len()].to_string(),
            Name::Raw(s) => s.chars().take(16).collect(),
        }
    }
}

/// A whole number, biased to small values and to the edges of exact `f64` integers.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Int {
    Small(i8),
    Medium(i16),
    Raw(i64),
    /// `±2^k + d` for `k < 64`.
    Pow2 {
        k: u8,
        neg: bool,
        d: i8,
    },
}

impl Int {
    pub fn value(self) -> i64 {
        match self {
            Int::Small(x) => x as i64,
            Int::Medium(x) => x as i64,
            Int::Raw(x) => x,
            Int::Pow2 { k, neg, d } => {
                let base = 1i64.checked_shl((k % 63) as u32).unwrap_or(0);
                let v = base.saturating_add(d as i64);
                if neg {
                    v.saturating_neg()
                } else {
                    v
                }
            }
        }
    }
}

/// A number, biased to short decimals and to extreme magnitudes.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Num {
    Small(i8),
    /// `m / 10^k`.
    Decimal {
        m: i32,
        k: u8,
    },
    /// `m * 10^e`.
    Sci {
        m: i16,
        e: i16,
    },
    Bits(u64),
}

impl Num {
    pub fn value(self) -> f64 {
        match self {
            Num::Small(x) => x as f64,
            Num::Decimal { m, k } => m as f64 / 10f64.powi((k % 20) as i32),
            Num::Sci { m, e } => format!("{m}e{}", e % 400).parse().unwrap_or(0.0),
            Num::Bits(b) => f64::from_bits(b),
        }
    }

    fn render(self) -> String {
        toml::Value::Float(self.value()).to_string()
    }
}

/// A date bound: a calendar date near the present, any year, or arbitrary text.
#[derive(Arbitrary, Debug, Clone)]
pub enum DateSpec {
    Near { years: i8, month: u8, day: u8 },
    Far { year: i32, month: u8, day: u8 },
    Raw(Text),
}

impl DateSpec {
    fn render(&self) -> String {
        match self {
            DateSpec::Near { years, month, day } => format!(
                "{:04}-{:02}-{:02}",
                2000 + *years as i32,
                month % 13,
                day % 32
            ),
            DateSpec::Far { year, month, day } => {
                format!("{:04}-{:02}-{:02}", year % 300_000, month % 13, day % 32)
            }
            DateSpec::Raw(t) => t.render(),
        }
    }
}

/// One piece of a chrono format string.
#[derive(Arbitrary, Debug, Clone)]
pub enum FmtPiece {
    Spec(u8),
    Lit(u8),
    Raw(String),
}

const SPECS: &[&str] = &[
    "%Y", "%m", "%d", "%y", "%C", "%b", "%B", "%h", "%e", "%j", "%a", "%A", "%w", "%u", "%U", "%W",
    "%G", "%g", "%V", "%D", "%x", "%F", "%v", "%H", "%M", "%S", "%p", "%Z", "%z", "%s", "%f",
    "%.3f", "%%", "%n", "%t", "%-d", "%_m", "%0e", "%", "%Q", "%:z", "%+", "%c", "%T",
];
const LITS: &[&str] = &["-", "/", " ", ".", "T", "", ":", ",", "x"];

fn render_format(pieces: &[FmtPiece]) -> String {
    let mut out = String::new();
    for p in pieces.iter().take(10) {
        match p {
            FmtPiece::Spec(i) => out.push_str(SPECS[*i as usize % SPECS.len()]),
            FmtPiece::Lit(i) => out.push_str(LITS[*i as usize % LITS.len()]),
            FmtPiece::Raw(s) => out.extend(s.chars().take(4)),
        }
    }
    out
}

#[derive(Arbitrary, Debug, Clone)]
pub enum KindSpec {
    Categorical {
        values: Vec<Text>,
        numbers: Vec<Int>,
        other: Option<Text>,
        labels: Option<Vec<Text>>,
    },
    Integer {
        min: Option<Int>,
        max: Option<Int>,
        width: Option<Int>,
        edges: Option<Vec<Int>>,
    },
    Float {
        min: Option<Num>,
        max: Option<Num>,
        width: Option<Num>,
        edges: Option<Vec<Num>>,
        decimals: Option<u8>,
    },
    Date {
        min: DateSpec,
        max: DateSpec,
        unit: u8,
        format: Option<Vec<FmtPiece>>,
    },
    Id {
        prefix: Option<Text>,
    },
}

#[derive(Arbitrary, Debug, Clone)]
pub struct ColSpec {
    pub name: Name,
    pub kind: KindSpec,
    pub missing: u8,
    pub missing_tokens: Option<Vec<Text>>,
    pub missing_label: Option<Text>,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct SchemaSpec {
    pub missing_tokens: Option<Vec<Text>>,
    pub extra_ignore: bool,
    pub draft: bool,
    pub columns: Vec<ColSpec>,
}

fn tokens(t: &[Text]) -> String {
    let v: Vec<String> = t.iter().take(6).map(|t| q(&t.render())).collect();
    format!("[{}]", v.join(", "))
}

impl SchemaSpec {
    /// The schema as TOML text, for the real parser to validate.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.draft {
            out.push_str("draft = true\n");
        }
        if let Some(t) = &self.missing_tokens {
            let _ = writeln!(out, "missing_tokens = {}", tokens(t));
        }
        if self.extra_ignore {
            out.push_str("extra_columns = \"ignore\"\n");
        }
        for c in self.columns.iter().take(MAX_COLUMNS) {
            out.push_str("\n[[columns]]\n");
            let _ = writeln!(out, "name = {}", q(&c.name.render()));
            match &c.kind {
                KindSpec::Categorical {
                    values,
                    numbers,
                    other,
                    labels,
                } => {
                    let mut v: Vec<String> = values
                        .iter()
                        .take(MAX_LIST)
                        .map(|t| q(&t.render()))
                        .collect();
                    v.extend(numbers.iter().take(8).map(|n| n.value().to_string()));
                    let _ = writeln!(out, "kind = \"categorical\"\nvalues = [{}]", v.join(", "));
                    if let Some(o) = other {
                        let _ = writeln!(out, "other = {}", q(&o.render()));
                    }
                    if let Some(l) = labels {
                        let l: Vec<String> =
                            l.iter().take(MAX_LIST).map(|t| q(&t.render())).collect();
                        let _ = writeln!(out, "labels = [{}]", l.join(", "));
                    }
                }
                KindSpec::Integer {
                    min,
                    max,
                    width,
                    edges,
                } => {
                    out.push_str("kind = \"integer\"\n");
                    if let Some(x) = min {
                        let _ = writeln!(out, "min = {}", x.value());
                    }
                    if let Some(x) = max {
                        let _ = writeln!(out, "max = {}", x.value());
                    }
                    if let Some(x) = width {
                        let _ = writeln!(out, "bin_width = {}", x.value());
                    }
                    if let Some(e) = edges {
                        let e: Vec<String> = e
                            .iter()
                            .take(MAX_LIST)
                            .map(|x| x.value().to_string())
                            .collect();
                        let _ = writeln!(out, "bin_edges = [{}]", e.join(", "));
                    }
                }
                KindSpec::Float {
                    min,
                    max,
                    width,
                    edges,
                    decimals,
                } => {
                    out.push_str("kind = \"float\"\n");
                    if let Some(x) = min {
                        let _ = writeln!(out, "min = {}", x.render());
                    }
                    if let Some(x) = max {
                        let _ = writeln!(out, "max = {}", x.render());
                    }
                    if let Some(x) = width {
                        let _ = writeln!(out, "bin_width = {}", x.render());
                    }
                    if let Some(e) = edges {
                        let e: Vec<String> = e.iter().take(MAX_LIST).map(|x| x.render()).collect();
                        let _ = writeln!(out, "bin_edges = [{}]", e.join(", "));
                    }
                    if let Some(d) = decimals {
                        let _ = writeln!(out, "decimals = {}", d % 20);
                    }
                }
                KindSpec::Date {
                    min,
                    max,
                    unit,
                    format,
                } => {
                    let unit = ["day", "week", "month", "year", "hour"][*unit as usize % 5];
                    let _ = writeln!(
                        out,
                        "kind = \"date\"\nmin = {}\nmax = {}\nunit = \"{unit}\"",
                        q(&min.render()),
                        q(&max.render())
                    );
                    if let Some(f) = format {
                        let _ = writeln!(out, "format = {}", q(&render_format(f)));
                    }
                }
                KindSpec::Id { prefix } => {
                    out.push_str("kind = \"id\"\n");
                    if let Some(p) = prefix {
                        let _ = writeln!(out, "prefix = {}", q(&p.render()));
                    }
                }
            }
            match c.missing % 4 {
                0 | 1 => {}
                2 => out.push_str("missing = \"category\"\n"),
                _ => out.push_str("missing = \"error\"\n"),
            }
            if let Some(t) = &c.missing_tokens {
                let _ = writeln!(out, "missing_tokens = {}", tokens(t));
            }
            if let Some(l) = &c.missing_label {
                let _ = writeln!(out, "missing_label = {}", q(&l.render()));
            }
        }
        out
    }
}

/// Which schema a CSV target runs against.
#[derive(Arbitrary, Debug, Clone)]
pub enum SchemaChoice {
    Admissions,
    Nist,
    Generated(SchemaSpec),
}

impl SchemaChoice {
    /// Parses the chosen schema. A generated schema is checked with [`check_schema`] whether
    /// or not the target goes on to use it; `None` when it does not validate.
    pub fn load(&self) -> Option<Schema> {
        // The shipped schemas never change: parse and check them once per process.
        static ADMISSIONS: OnceLock<Schema> = OnceLock::new();
        static NIST: OnceLock<Schema> = OnceLock::new();
        let fixed = |cell: &OnceLock<Schema>, text: &str, name: &str| {
            cell.get_or_init(|| match Schema::from_toml_str(text, name) {
                Ok(s) => {
                    check_schema(&s);
                    s
                }
                Err(e) => panic!("shipped schema {name} does not load: {e}"),
            })
            .clone()
        };
        match self {
            SchemaChoice::Admissions => Some(fixed(&ADMISSIONS, ADMISSIONS_SCHEMA, "admissions")),
            SchemaChoice::Nist => Some(fixed(&NIST, NIST_SCHEMA, "national2019")),
            SchemaChoice::Generated(spec) => {
                let schema = Schema::from_toml_str(&spec.render(), "fuzz.schema.toml").ok()?;
                check_schema(&schema);
                Some(schema)
            }
        }
    }
}

/// The oracles every loaded schema must satisfy:
/// - writing it as TOML and parsing that gives back an equal schema, and writing again gives
///   the same text;
/// - every modelled column has between 1 and `MAX_CODES` codes and one label per code;
/// - every code decodes to a cell text that encodes back to the same code.
pub fn check_schema(schema: &Schema) {
    let text = schema.to_toml_string();
    let back = match Schema::from_toml_str(&text, "emitted") {
        Ok(b) => b,
        Err(e) => panic!("emitted schema does not parse: {e}\n--- emitted ---\n{text}"),
    };
    assert!(
        back == *schema,
        "round trip changed the schema\n--- emitted ---\n{text}\n--- original ---\n{schema:?}\n--- back ---\n{back:?}"
    );
    assert_eq!(back.to_toml_string(), text, "emitting is not idempotent");

    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for col in schema.columns() {
        let card = col.cardinality();
        if !col.is_modelled() {
            assert_eq!(card, 0);
            continue;
        }
        assert!(
            (1..=MAX_CODES).contains(&card),
            "column {:?} has {card} codes",
            col.name()
        );
        assert_eq!(col.code_labels().len(), card, "labels of {:?}", col.name());
        if col.missing_policy() == MissingPolicy::Category {
            assert!(!col.missing_tokens().is_empty());
        }
        // Every code for small columns; the first and last few for wide ones.
        let codes: Vec<usize> = if card <= 64 {
            (0..card).collect()
        } else {
            (0..16)
                .chain(card / 2..card / 2 + 4)
                .chain(card - 16..card)
                .collect()
        };
        for code in codes {
            for _ in 0..3 {
                let Some(text) = col.decode(code as u32, &mut rng) else {
                    panic!(
                        "column {:?}: code {code} of {card} does not decode",
                        col.name()
                    );
                };
                check_cell_roundtrip(col, code as u32, &text);
            }
        }
        assert!(col.decode(card as u32, &mut rng).is_none());
    }
}

/// A decoded cell must encode to the code it came from.
pub fn check_cell_roundtrip(col: &dpsynth::schema::Column, code: u32, text: &str) {
    match col.encode(text) {
        Ok(cell) => assert_eq!(
            cell.code(),
            code,
            "column {:?} ({}): code {code} decoded to {text:?}, which encodes to {cell:?}; kind {:?}",
            col.name(),
            col.kind().name(),
            col.kind()
        ),
        Err(e) => panic!(
            "column {:?}: code {code} decoded to {text:?}, which does not encode: {e:?}; kind {:?}",
            col.name(),
            col.kind()
        ),
    }
}

/// One cell of a generated CSV row.
#[derive(Arbitrary, Debug, Clone)]
pub enum CellSpec {
    Text(Text),
    Int(Int),
    Num(Num),
    /// A value taken from the schema: the k-th listed value or a number inside the bounds.
    FromSchema(u16),
    Date {
        year: i16,
        month: u8,
        day: u8,
    },
}

/// CSV input: raw bytes, or rows built from cells (then joined with an odd separator or
/// written with proper quoting).
#[derive(Arbitrary, Debug, Clone)]
pub enum CsvSpec {
    Raw(Vec<u8>),
    Rows {
        /// Header: indices into the schema's columns (or raw names).
        header: Vec<Result<u8, Name>>,
        rows: Vec<Vec<CellSpec>>,
        quoted: bool,
        crlf: bool,
    },
}

fn from_schema(schema: &Schema, col: usize, k: u16) -> String {
    let Some(c) = schema.columns().get(col) else {
        return pick(k as u8).to_string();
    };
    match c.kind() {
        ColumnKind::Categorical(cat) => {
            let n = cat.values().len() + 1;
            match cat.values().get(k as usize % n) {
                Some(v) => v.clone(),
                None => c.missing_tokens().first().cloned().unwrap_or_default(),
            }
        }
        ColumnKind::Integer(b) | ColumnKind::Float(b) => {
            let e = b.edges();
            let x = e[k as usize % e.len()];
            match k % 3 {
                0 => format!("{x}"),
                1 => format!("{}", x as i64),
                _ => format!("{}", x - 1.0),
            }
        }
        ColumnKind::Date(d) => {
            let base = if k % 2 == 0 { d.min() } else { d.max() };
            let shift = chrono::Days::new((k / 2 % 40) as u64);
            let day = base.checked_add_days(shift).unwrap_or(base);
            let f = d.format();
            let items = chrono::format::StrftimeItems::new(f);
            let mut s = String::new();
            if write!(s, "{}", day.format_with_items(items)).is_err() {
                s.clear();
            }
            s
        }
        ColumnKind::Id { .. } => format!("P{k}"),
    }
}

impl CsvSpec {
    pub fn render(&self, schema: Option<&Schema>) -> Vec<u8> {
        match self {
            CsvSpec::Raw(b) => b.clone(),
            CsvSpec::Rows {
                header,
                rows,
                quoted,
                crlf,
            } => {
                let names: Vec<String> = header
                    .iter()
                    .take(MAX_COLUMNS + 2)
                    .map(|h| match (h, schema) {
                        (Ok(i), Some(s)) if !s.columns().is_empty() => s.columns()
                            [*i as usize % s.columns().len()]
                        .name()
                        .to_string(),
                        (Ok(i), _) => NAMES[*i as usize % NAMES.len()].to_string(),
                        (Err(n), _) => n.render(),
                    })
                    .collect();
                // Map each header position to its schema column, for FromSchema cells.
                let col_of: Vec<usize> = names
                    .iter()
                    .map(|n| {
                        schema
                            .and_then(|s| s.columns().iter().position(|c| c.name() == n))
                            .unwrap_or(usize::MAX)
                    })
                    .collect();
                let mut table: Vec<Vec<String>> = vec![names];
                for r in rows.iter().take(64) {
                    let row: Vec<String> = r
                        .iter()
                        .take(MAX_COLUMNS + 2)
                        .enumerate()
                        .map(|(j, c)| match c {
                            CellSpec::Text(t) => t.render(),
                            CellSpec::Int(i) => i.value().to_string(),
                            CellSpec::Num(n) => format!("{}", n.value()),
                            CellSpec::FromSchema(k) => match schema {
                                Some(s) => from_schema(s, col_of.get(j).copied().unwrap_or(0), *k),
                                None => pick(*k as u8).to_string(),
                            },
                            CellSpec::Date { year, month, day } => {
                                format!("{:04}-{:02}-{:02}", year, month % 13, day % 32)
                            }
                        })
                        .collect();
                    table.push(row);
                }
                let term = if *crlf { "\r\n" } else { "\n" };
                if *quoted {
                    let mut w = csv::WriterBuilder::new()
                        .flexible(true)
                        .terminator(if *crlf {
                            csv::Terminator::CRLF
                        } else {
                            csv::Terminator::Any(b'\n')
                        })
                        .from_writer(Vec::new());
                    for row in &table {
                        if w.write_record(row).is_err() {
                            break;
                        }
                    }
                    w.into_inner().unwrap_or_default()
                } else {
                    let mut out = String::new();
                    for row in &table {
                        out.push_str(&row.join(","));
                        out.push_str(term);
                    }
                    out.into_bytes()
                }
            }
        }
    }
}
