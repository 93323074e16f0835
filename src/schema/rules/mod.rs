//! Rules: public constraints every record obeys, written the way a clinician states them.
//!
//! ```toml
//! [[rules]]
//! name = "death not before relapse"   # optional; used in messages
//! check = "dtime >= rtime"
//! ```
//!
//! A rule is a condition over one record's values (grammar in `parse.rs`). A comparison with
//! a missing value is false; `is missing` tests for one. Rules are part of the schema: public
//! knowledge, embedded in every certificate.
//!
//! Three things use them:
//! - validation ([`check`]): unknown or unmodelled columns, type mismatches, values not in a
//!   column's list, a rule no record can satisfy, rules that together leave a column no value;
//! - structural zeros ([`CompiledRules::zero_masks`], used by `model::constraints`): every
//!   cell of the model's domain in which no value can satisfy the rules, decided exactly for
//!   categories and by interval reasoning for bins (`solve.rs`);
//! - decoding (`data::Decoder`): values drawn inside a cell are drawn from the set that
//!   satisfies the rules ([`CompiledRules::solve_record`]), and every written record is
//!   checked again on its written text ([`CompiledRules::check_written`]).
//!
//! Comparisons between two columns need columns of the same kind and grid (integer with
//! integer, date with date, date-time with date-time, float with float of the same
//! `decimals`), which keeps the interval reasoning exact.

mod eval;
pub mod parse;
mod solve;

use std::collections::HashMap;

use chrono::NaiveDate;

use super::column::{days_of, minutes_of, parse_datetime, Column, ColumnKind};
use super::error::SchemaProblem;
use super::value::{Axis, Interval, IntervalSet};
use super::Schema;

pub use parse::CmpOp;
pub use solve::{RecordSolution, ZeroMask};

use parse::{Ast, Lit, Operand};

/// A rule as declared in the schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub(crate) name: Option<String>,
    pub(crate) check: String,
    pub(crate) ast: Ast,
}

impl Rule {
    /// The rule's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The condition as written.
    pub fn check(&self) -> &str {
        &self.check
    }

    /// How messages name the rule: its name, else its condition.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{n:?}"),
            None => format!("{:?}", self.check),
        }
    }
}

/// Parses a rule (name and text); a syntax error is a schema problem naming the rule.
pub(crate) fn parse_rule(name: Option<String>, check: &str) -> Result<Rule, SchemaProblem> {
    let label = match &name {
        Some(n) => format!("{n:?}"),
        None => format!("{check:?}"),
    };
    match parse::parse(check) {
        Ok(ast) => Ok(Rule {
            name,
            check: check.to_string(),
            ast,
        }),
        Err(e) => Err(SchemaProblem::BadRule {
            rule: label,
            message: format!("at character {}: {}", e.at, e.message),
        }),
    }
}

/// A literal as a rule compares it with a written cell.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum KeyLit {
    Text(String),
    Num(f64),
}

/// A test on one column's written cell, for the final check.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum KeyTest {
    Cmp(CmpOp, KeyLit),
    In(Vec<KeyLit>),
    IsMissing,
}

/// A condition on one or two columns, resolved against the schema.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Atom {
    /// A test that depends on a column's code alone (categorical values, `is missing`):
    /// `truth[code]`.
    Code {
        col: usize,
        truth: Vec<bool>,
        test: KeyTest,
    },
    /// Two categorical columns compared: `truth[code_a * card_b + code_b]`.
    Pair {
        a: usize,
        b: usize,
        truth: Vec<bool>,
        op: CmpOp,
    },
    /// A number, date or date-time compared with literals: true when present and in `set`
    /// (axis values).
    Bound {
        col: usize,
        set: IntervalSet,
        test: KeyTest,
    },
    /// Two numeric (or date, or date-time) columns on the same axis compared.
    Diff { a: usize, b: usize, op: CmpOp },
}

impl Atom {
    pub(crate) fn columns(&self) -> Vec<usize> {
        match self {
            Atom::Code { col, .. } | Atom::Bound { col, .. } => vec![*col],
            Atom::Pair { a, b, .. } | Atom::Diff { a, b, .. } => vec![*a, *b],
        }
    }
}

/// A rule's condition over its atoms.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Const(bool),
    Atom(usize),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Implies(Box<Expr>, Box<Expr>),
    Iff(Box<Expr>, Box<Expr>),
}

/// One rule resolved against a schema: atoms over modelled columns (by their index among
/// the modelled columns).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CompiledRule {
    pub label: String,
    pub expr: Expr,
    pub atoms: Vec<Atom>,
    /// Modelled columns the rule reads, sorted.
    pub columns: Vec<usize>,
}

/// Rules decided together: structural zeros live on the joint domain of a component's
/// columns.
///
/// Two rules join one component only through a column *both* leave undecided on some code
/// (a number compared with a value inside one of its bins, or with another column): there a
/// value good for one rule may be bad for the other, so the cell must be decided jointly. A
/// column every rule but one decides code by code (a category; a number whose comparisons
/// all fall on bin edges) does not join them: each rule's truth there is fixed by the code,
/// so a cell of the joint domain is possible exactly when each component's projection of it
/// is (proofs/rules.md, "Factored masks"). Components may therefore share such columns
/// (a hub column such as an age tied to many others by rules on its bin edges).
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// Modelled column indices, sorted.
    pub columns: Vec<usize>,
    /// Indices into the compiled rules.
    pub rules: Vec<usize>,
}

/// The schema's rules resolved against its columns and grouped into components.
#[derive(Clone, Debug)]
pub struct CompiledRules {
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) components: Vec<Component>,
    /// Components that share columns, as sets of indices into `components`: each set's
    /// rules must be satisfiable together (validation only).
    pub(crate) linked: Vec<Vec<usize>>,
    /// Per modelled column: what each code stands for.
    pub(crate) values: Vec<Vec<super::CodeValue>>,
    /// Per modelled column: its axis (numeric, date and date-time columns).
    pub(crate) axes: Vec<Option<Axis>>,
    pub(crate) cards: Vec<usize>,
    /// Modelled columns, for reading written records back.
    pub(crate) columns: Vec<Column>,
}

/// Largest joint domain (in cells) of the columns a component of rules connects: structural
/// zeros are decided cell by cell.
pub const MAX_RULE_CELLS: usize = 4_000_000;

impl CompiledRules {
    /// Resolves `schema`'s rules against its columns. Problems name the rule.
    pub fn new(schema: &Schema) -> Result<CompiledRules, Vec<SchemaProblem>> {
        let modelled: Vec<&Column> = schema.modelled();
        let index: HashMap<&str, usize> = modelled
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name(), i))
            .collect();
        let mut problems = Vec::new();
        let mut rules = Vec::new();
        for r in &schema.rules {
            let mut cx = Compiler {
                schema,
                modelled: &modelled,
                index: &index,
                atoms: Vec::new(),
                label: r.label(),
                problems: Vec::new(),
            };
            let expr = cx.expr(&r.ast);
            if cx.problems.is_empty() {
                let mut columns: Vec<usize> = cx.atoms.iter().flat_map(|a| a.columns()).collect();
                columns.sort_unstable();
                columns.dedup();
                rules.push(CompiledRule {
                    label: cx.label,
                    expr,
                    atoms: cx.atoms,
                    columns,
                });
            } else {
                problems.extend(cx.problems);
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let values: Vec<Vec<super::CodeValue>> = modelled
            .iter()
            .map(|c| {
                (0..c.cardinality() as u32)
                    .map(|k| c.code_value(k).unwrap_or(super::CodeValue::Missing))
                    .collect()
            })
            .collect();
        // Per rule, the columns it leaves undecided on some code: rules join a component
        // only through columns at least two of them leave undecided.
        let undecided: Vec<Vec<usize>> = rules
            .iter()
            .map(|r| undecided_columns(r, &values))
            .collect();
        let mut joins: Vec<Vec<usize>> = Vec::new();
        for c in 0..modelled.len() {
            let by: Vec<usize> = (0..rules.len())
                .filter(|&r| undecided[r].contains(&c))
                .collect();
            if by.len() > 1 {
                joins.push(by);
            }
        }
        let components: Vec<Component> = group(rules.len(), &joins)
            .into_iter()
            .filter_map(|rs| {
                let mut columns: Vec<usize> = rs
                    .iter()
                    .flat_map(|&r| rules[r].columns.iter().copied())
                    .collect();
                columns.sort_unstable();
                columns.dedup();
                (!columns.is_empty()).then_some(Component { columns, rules: rs })
            })
            .collect();
        // Components linked by a shared (decided) column.
        let mut shares: Vec<Vec<usize>> = Vec::new();
        for c in 0..modelled.len() {
            let by: Vec<usize> = (0..components.len())
                .filter(|&k| components[k].columns.contains(&c))
                .collect();
            if by.len() > 1 {
                shares.push(by);
            }
        }
        let linked = group(components.len(), &shares)
            .into_iter()
            .filter(|g| g.len() > 1)
            .collect();
        Ok(CompiledRules {
            rules,
            components,
            linked,
            values,
            axes: modelled.iter().map(|c| c.axis()).collect(),
            cards: modelled.iter().map(|c| c.cardinality()).collect(),
            columns: modelled.iter().map(|c| (*c).clone()).collect(),
        })
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// For the first `n` codes of modelled column `col` (its bins, in order): the codes `i`
    /// at which some rule's comparison of the column with a value is decided on bins `i - 1`
    /// and `i` but differently, so that merging the two bins would leave it undecided inside
    /// the merged bin. Merging automatic bins cuts there, so a rule decided on the fine grid
    /// stays decided on the merged bins and keeps its own mask (see [`Component`]).
    pub fn decided_cuts(&self, col: usize, n: usize) -> Vec<usize> {
        let mut cuts = Vec::new();
        for r in &self.rules {
            for a in &r.atoms {
                let Atom::Bound { col: c, set, .. } = a else {
                    continue;
                };
                if *c != col {
                    continue;
                }
                let truth: Vec<Option<bool>> = self.values[col]
                    .iter()
                    .take(n)
                    .map(|v| match v {
                        super::CodeValue::Values(v) if set.covers(v) => Some(true),
                        super::CodeValue::Values(v) if set.intersect(v).is_empty() => Some(false),
                        super::CodeValue::Values(_) => None,
                        _ => Some(false),
                    })
                    .collect();
                for i in 1..truth.len() {
                    if let (Some(x), Some(y)) = (truth[i - 1], truth[i]) {
                        if x != y {
                            cuts.push(i);
                        }
                    }
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        cuts
    }
}

/// The columns rule `r` leaves undecided on some code: a number, date or date-time compared
/// with a value that falls inside one of its bins (the comparison is true for some values of
/// the bin and false for others), or compared with another column (always counted: such a
/// comparison is rarely settled by the codes alone). Categorical tests never are.
fn undecided_columns(r: &CompiledRule, values: &[Vec<super::CodeValue>]) -> Vec<usize> {
    let mut out = Vec::new();
    for a in &r.atoms {
        match a {
            Atom::Code { .. } | Atom::Pair { .. } => {}
            Atom::Bound { col, set, .. } => {
                let split = values[*col].iter().any(|v| match v {
                    super::CodeValue::Values(v) => !set.covers(v) && !set.intersect(v).is_empty(),
                    _ => false,
                });
                if split {
                    out.push(*col);
                }
            }
            Atom::Diff { a, b, .. } => out.extend([*a, *b]),
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Union-find over `n` items: the groups that `joins` (sets of items joined together)
/// connect, each sorted, ordered by their smallest item.
fn group(n: usize, joins: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for j in joins {
        for w in j.windows(2) {
            let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut by_root: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..n {
        let root = find(&mut parent, i);
        by_root.entry(root).or_default().push(i);
    }
    // Roots are each group's smallest item, so the map's order is by smallest item.
    by_root.into_values().collect()
}

struct Compiler<'a> {
    schema: &'a Schema,
    modelled: &'a [&'a Column],
    index: &'a HashMap<&'a str, usize>,
    atoms: Vec<Atom>,
    label: String,
    problems: Vec<SchemaProblem>,
}

/// What a rule can compare about a column.
enum Typed {
    Cat,
    Axis(Axis),
}

fn kind_words(c: &Column) -> &'static str {
    match c.kind() {
        ColumnKind::Categorical(_) => "categorical",
        ColumnKind::Integer(_) => "integer",
        ColumnKind::Float(_) => "float",
        ColumnKind::Date(_) => "date",
        ColumnKind::DateTime(_) => "date-time",
        ColumnKind::Id { .. } => "id",
        ColumnKind::Skip => "skip",
    }
}

impl<'a> Compiler<'a> {
    fn problem(&mut self, message: String) {
        self.problems.push(SchemaProblem::BadRule {
            rule: self.label.clone(),
            message,
        });
    }

    fn push(&mut self, a: Atom) -> Expr {
        self.atoms.push(a);
        Expr::Atom(self.atoms.len() - 1)
    }

    fn expr(&mut self, ast: &Ast) -> Expr {
        match ast {
            Ast::Bool(b) => Expr::Const(*b),
            Ast::Not(a) => Expr::Not(Box::new(self.expr(a))),
            Ast::And(v) => Expr::And(v.iter().map(|a| self.expr(a)).collect()),
            Ast::Or(v) => Expr::Or(v.iter().map(|a| self.expr(a)).collect()),
            Ast::Implies(a, b) => Expr::Implies(Box::new(self.expr(a)), Box::new(self.expr(b))),
            Ast::Iff(a, b) => Expr::Iff(Box::new(self.expr(a)), Box::new(self.expr(b))),
            Ast::Cmp(l, op, r) => self.cmp(l, *op, r),
            Ast::In {
                operand,
                list,
                negated,
            } => {
                let e = self.in_list(operand, list);
                if *negated {
                    Expr::Not(Box::new(e))
                } else {
                    e
                }
            }
            Ast::IsMissing { operand, negated } => {
                let Some(col) = self.column_of(operand, "is missing") else {
                    return Expr::Const(true);
                };
                let c = self.modelled[col];
                let truth = (0..c.cardinality() as u32)
                    .map(|k| Some(k) == c.missing_code())
                    .collect();
                let e = self.push(Atom::Code {
                    col,
                    truth,
                    test: KeyTest::IsMissing,
                });
                if *negated {
                    Expr::Not(Box::new(e))
                } else {
                    e
                }
            }
        }
    }

    /// The modelled index of a column operand, reporting why not otherwise.
    fn column_of(&mut self, o: &Operand, what: &str) -> Option<usize> {
        let name = match o {
            Operand::Column(n) => n,
            Operand::Lit(l) => {
                self.problem(format!("`{l} {what}` tests a value, not a column"));
                return None;
            }
        };
        self.resolve(name)
    }

    fn resolve(&mut self, name: &str) -> Option<usize> {
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        match self.schema.column(name) {
            Some(c) if matches!(c.kind(), ColumnKind::Id { .. }) => self.problem(format!(
                "column {name:?} is an id column: it is not modelled, so a rule cannot use it"
            )),
            Some(_) => self.problem(format!(
                "column {name:?} is skipped (kind = \"skip\"): it is not modelled, so a rule cannot use it"
            )),
            None => {
                let near: Vec<&str> = self
                    .modelled
                    .iter()
                    .map(|c| c.name())
                    .filter(|c| c.eq_ignore_ascii_case(name))
                    .collect();
                let hint = match near.first() {
                    Some(n) => format!(" (did you mean {n:?}?)"),
                    None => String::new(),
                };
                self.problem(format!("unknown column {name:?}{hint}"))
            }
        }
        None
    }

    fn typed(&self, col: usize) -> Typed {
        let c = self.modelled[col];
        match c.kind() {
            ColumnKind::Categorical(_) => Typed::Cat,
            _ => Typed::Axis(c.axis().unwrap_or(Axis::Real)),
        }
    }

    fn cmp(&mut self, l: &Operand, op: CmpOp, r: &Operand) -> Expr {
        match (l, r) {
            (Operand::Lit(a), Operand::Lit(b)) => {
                self.problem(format!(
                    "`{a} {} {b}` compares two values; a comparison needs a column",
                    op.as_str()
                ));
                Expr::Const(true)
            }
            (Operand::Lit(lit), Operand::Column(c)) => self.col_lit(c, op.flipped(), lit),
            (Operand::Column(c), Operand::Lit(lit)) => self.col_lit(c, op, lit),
            (Operand::Column(a), Operand::Column(b)) => self.col_col(a, op, b),
        }
    }

    fn col_col(&mut self, a: &str, op: CmpOp, b: &str) -> Expr {
        let (Some(ia), Some(ib)) = (self.resolve(a), self.resolve(b)) else {
            return Expr::Const(true);
        };
        let (ca, cb) = (self.modelled[ia], self.modelled[ib]);
        match (self.typed(ia), self.typed(ib)) {
            (Typed::Cat, Typed::Cat) => {
                let texts = |c: &Column| -> Vec<Option<String>> {
                    (0..c.cardinality() as u32)
                        .map(|k| match c.code_value(k) {
                            Some(super::CodeValue::Text(t)) => Some(t),
                            _ => None,
                        })
                        .collect()
                };
                let (ta, tb) = (texts(ca), texts(cb));
                if op.is_order() {
                    for (c, t) in [(ca, &ta), (cb, &tb)] {
                        if !t.iter().flatten().any(|v| v.parse::<f64>().is_ok()) {
                            self.problem(format!(
                                "`{}` orders categorical column {:?}, whose values are not numbers",
                                op.as_str(),
                                c.name()
                            ));
                            return Expr::Const(true);
                        }
                    }
                }
                let mut truth = Vec::with_capacity(ta.len() * tb.len());
                for x in &ta {
                    for y in &tb {
                        truth.push(match (x, y) {
                            (Some(x), Some(y)) => eval::text_cmp(x, op, y),
                            _ => false,
                        });
                    }
                }
                let (a, b) = (ia, ib);
                self.push(Atom::Pair { a, b, truth, op })
            }
            (Typed::Axis(x), Typed::Axis(y)) if x.comparable(y) => {
                self.push(Atom::Diff { a: ia, b: ib, op })
            }
            _ => {
                self.problem(format!(
                    "compares {} column {:?} with {} column {:?}; compare columns of the same kind (and, for floats, the same decimals)",
                    kind_words(ca),
                    ca.name(),
                    kind_words(cb),
                    cb.name()
                ));
                Expr::Const(true)
            }
        }
    }

    /// A literal as the key a written cell of column `col` is compared with.
    fn key_lit(&mut self, col: usize, lit: &Lit, op: CmpOp) -> Option<KeyLit> {
        let c = self.modelled[col];
        let name = c.name();
        match (c.kind(), lit) {
            (ColumnKind::Categorical(cat), Lit::Str(s)) => {
                if op.is_order() {
                    self.problem(format!(
                        "`{}` orders categorical column {name:?} by the text '{s}'; order comparisons need numbers",
                        op.as_str()
                    ));
                    return None;
                }
                if !cat.values.contains(s) && cat.other.as_deref() != Some(s.as_str()) {
                    self.problem(format!(
                        "compares categorical column {name:?} with '{s}', which is not one of its values"
                    ));
                    return None;
                }
                Some(KeyLit::Text(s.clone()))
            }
            (ColumnKind::Categorical(cat), Lit::Num(x)) => {
                let numeric: Vec<f64> = cat
                    .values
                    .iter()
                    .filter_map(|v| v.parse::<f64>().ok())
                    .collect();
                if numeric.is_empty() {
                    self.problem(format!(
                        "compares categorical column {name:?} with the number {x}, but none of its values is a number"
                    ));
                    return None;
                }
                if !op.is_order() && !numeric.contains(x) {
                    self.problem(format!(
                        "compares categorical column {name:?} with {x}, which is not one of its values"
                    ));
                    return None;
                }
                Some(KeyLit::Num(*x))
            }
            (ColumnKind::Integer(_) | ColumnKind::Float(_), Lit::Num(x)) => Some(KeyLit::Num(*x)),
            (ColumnKind::Integer(_) | ColumnKind::Float(_), Lit::Str(s)) => {
                self.problem(format!(
                    "compares number column {name:?} with the string '{s}'; write the number without quotes"
                ));
                None
            }
            (ColumnKind::Date(_), Lit::Str(s)) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Some(KeyLit::Num(days_of(d))),
                Err(_) => {
                    self.problem(format!(
                            "compares date column {name:?} with the string '{s}', which is not a date; write dates as 'YYYY-MM-DD'"
                        ));
                    None
                }
            },
            (ColumnKind::DateTime(_), Lit::Str(s)) => {
                let t = parse_datetime(s, None).or_else(|| {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                });
                match t {
                    Some(t) => Some(KeyLit::Num(minutes_of(t))),
                    None => {
                        self.problem(format!(
                            "compares date-time column {name:?} with the string '{s}', which is not a date-time; write 'YYYY-MM-DD HH:MM' or 'YYYY-MM-DD'"
                        ));
                        None
                    }
                }
            }
            (ColumnKind::Date(_) | ColumnKind::DateTime(_), Lit::Num(x)) => {
                self.problem(format!(
                    "compares {} column {name:?} with the number {x}; write a date as 'YYYY-MM-DD'",
                    kind_words(c)
                ));
                None
            }
            _ => None,
        }
    }

    fn col_lit(&mut self, name: &str, op: CmpOp, lit: &Lit) -> Expr {
        let Some(col) = self.resolve(name) else {
            return Expr::Const(true);
        };
        let Some(key) = self.key_lit(col, lit, op) else {
            return Expr::Const(true);
        };
        let c = self.modelled[col];
        let test = KeyTest::Cmp(op, key.clone());
        match self.typed(col) {
            Typed::Cat => {
                let truth = code_truth(c, &test);
                self.push(Atom::Code { col, truth, test })
            }
            Typed::Axis(axis) => {
                let KeyLit::Num(k) = key else {
                    return Expr::Const(true);
                };
                let set = bound_set(c, axis, op, k);
                self.push(Atom::Bound { col, set, test })
            }
        }
    }

    fn in_list(&mut self, operand: &Operand, list: &[Lit]) -> Expr {
        let Some(col) = self.column_of(operand, "in [...]") else {
            return Expr::Const(true);
        };
        let mut keys = Vec::new();
        for l in list {
            match self.key_lit(col, l, CmpOp::Eq) {
                Some(k) => keys.push(k),
                None => return Expr::Const(true),
            }
        }
        let c = self.modelled[col];
        let test = KeyTest::In(keys.clone());
        match self.typed(col) {
            Typed::Cat => {
                let truth = code_truth(c, &test);
                self.push(Atom::Code { col, truth, test })
            }
            Typed::Axis(axis) => {
                let mut set = IntervalSet::empty(axis.is_grid());
                for k in &keys {
                    if let KeyLit::Num(x) = k {
                        let s = bound_set(c, axis, CmpOp::Eq, *x);
                        let mut parts = set.parts.clone();
                        parts.extend(s.parts);
                        set = IntervalSet::from_parts(axis.is_grid(), parts);
                    }
                }
                self.push(Atom::Bound { col, set, test })
            }
        }
    }
}

/// Per code of a categorical column: whether its written text passes `test`.
fn code_truth(c: &Column, test: &KeyTest) -> Vec<bool> {
    (0..c.cardinality() as u32)
        .map(|k| {
            let key = match c.code_value(k) {
                Some(super::CodeValue::Text(t)) => super::Key::Text(t),
                _ => super::Key::Missing,
            };
            eval::key_test(&key, test)
        })
        .collect()
}

/// The axis values of column `c` whose written form compares `op` with the key `k`.
///
/// On a grid the written form is monotone in the axis value (`Bins::key_of_axis`), so the set
/// is an interval found by a search around `k` that checks the written form itself, never a
/// rounded formula.
fn bound_set(c: &Column, axis: Axis, op: CmpOp, k: f64) -> IntervalSet {
    let grid = axis.is_grid();
    if !grid {
        let iv = match op {
            CmpOp::Le => Interval {
                lo: f64::NEG_INFINITY,
                hi: k,
                lo_open: true,
                hi_open: false,
            },
            CmpOp::Lt => Interval {
                lo: f64::NEG_INFINITY,
                hi: k,
                lo_open: true,
                hi_open: true,
            },
            CmpOp::Ge => Interval {
                lo: k,
                hi: f64::INFINITY,
                lo_open: false,
                hi_open: true,
            },
            CmpOp::Gt => Interval {
                lo: k,
                hi: f64::INFINITY,
                lo_open: true,
                hi_open: true,
            },
            CmpOp::Eq | CmpOp::Ne => Interval::point(k),
        };
        let s = IntervalSet::from_parts(false, vec![iv]);
        return if op == CmpOp::Ne { s.complement() } else { s };
    }
    let key = |v: f64| match c.bins() {
        Some(b) => b.key_of_axis(v),
        None => v,
    };
    // Far outside any column's values the search needs no precision.
    const FAR: f64 = 1e17;
    let g = axis.from_linear(k).clamp(-FAR, FAR);
    // Largest v with key(v) `le` k (le: <= or <), and smallest with key(v) `ge` k.
    let largest = |strict: bool| {
        let ok = |v: f64| if strict { key(v) < k } else { key(v) <= k };
        let mut v = g.floor() + 2.0;
        for _ in 0..8 {
            if ok(v) {
                break;
            }
            v -= 1.0;
        }
        while ok(v + 1.0) && v < FAR {
            v += 1.0;
        }
        v
    };
    let smallest = |strict: bool| {
        let ok = |v: f64| if strict { key(v) > k } else { key(v) >= k };
        let mut v = g.ceil() - 2.0;
        for _ in 0..8 {
            if ok(v) {
                break;
            }
            v += 1.0;
        }
        while ok(v - 1.0) && v > -FAR {
            v -= 1.0;
        }
        v
    };
    let below = |hi: f64| Interval {
        lo: f64::NEG_INFINITY,
        hi,
        lo_open: true,
        hi_open: false,
    };
    let above = |lo: f64| Interval {
        lo,
        hi: f64::INFINITY,
        lo_open: false,
        hi_open: true,
    };
    let eq = || Interval::closed(smallest(false), largest(false));
    let iv = match op {
        CmpOp::Le => below(largest(false)),
        CmpOp::Lt => below(largest(true)),
        CmpOp::Ge => above(smallest(false)),
        CmpOp::Gt => above(smallest(true)),
        CmpOp::Eq | CmpOp::Ne => eq(),
    };
    let s = IntervalSet::from_parts(true, vec![iv]);
    if op == CmpOp::Ne {
        s.complement()
    } else {
        s
    }
}

/// Validates the schema's rules: each resolves, no rule is unsatisfiable on its own, and the
/// rules of each component leave every column a value. Problems name the rule(s).
pub(crate) fn check(schema: &Schema) -> Vec<SchemaProblem> {
    if schema.rules.is_empty() {
        return Vec::new();
    }
    let compiled = match CompiledRules::new(schema) {
        Ok(c) => c,
        Err(p) => return p,
    };
    compiled.satisfiability_problems()
}

#[cfg(test)]
mod tests;
