//! The final check: rules evaluated on a record's written text, read back as a reader
//! would. Independent of the reasoning that chose the values, so a mistake there is caught
//! before a record is written.

use super::super::{Column, Key};
use super::{Atom, CmpOp, CompiledRules, Expr, KeyLit, KeyTest};

/// Two categorical texts compared: equality as text, order as numbers (false if either is
/// not a number).
pub(crate) fn text_cmp(a: &str, op: CmpOp, b: &str) -> bool {
    if op.is_order() {
        match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => op.holds(&x, &y),
            _ => false,
        }
    } else {
        op.holds(&a, &b)
    }
}

fn lit_cmp(key: &Key, op: CmpOp, lit: &KeyLit) -> bool {
    match (key, lit) {
        (Key::Missing, _) => false,
        (Key::Text(t), KeyLit::Text(s)) => text_cmp(t, op, s),
        (Key::Text(t), KeyLit::Num(x)) => match t.parse::<f64>() {
            Ok(v) => op.holds(&v, x),
            Err(_) => false,
        },
        (Key::Num(v), KeyLit::Num(x)) => op.holds(v, x),
        (Key::Num(_), KeyLit::Text(_)) => false,
    }
}

/// Whether one written cell passes a test (a comparison with a missing value is false).
pub(crate) fn key_test(key: &Key, test: &KeyTest) -> bool {
    match test {
        KeyTest::IsMissing => matches!(key, Key::Missing),
        KeyTest::Cmp(op, lit) => lit_cmp(key, *op, lit),
        KeyTest::In(list) => list.iter().any(|l| lit_cmp(key, CmpOp::Eq, l)),
    }
}

fn pair(a: &Key, op: CmpOp, b: &Key) -> bool {
    match (a, b) {
        (Key::Text(x), Key::Text(y)) => text_cmp(x, op, y),
        (Key::Num(x), Key::Num(y)) => op.holds(x, y),
        _ => false,
    }
}

fn atom(a: &Atom, keys: &[Key]) -> bool {
    match a {
        Atom::Code { col, test, .. } | Atom::Bound { col, test, .. } => key_test(&keys[*col], test),
        Atom::Pair { a, b, op, .. } | Atom::Diff { a, b, op } => pair(&keys[*a], *op, &keys[*b]),
    }
}

pub(crate) fn expr(e: &Expr, atoms: &[Atom], keys: &[Key]) -> bool {
    match e {
        Expr::Const(b) => *b,
        Expr::Atom(i) => atom(&atoms[*i], keys),
        Expr::Not(x) => !expr(x, atoms, keys),
        Expr::And(v) => v.iter().all(|x| expr(x, atoms, keys)),
        Expr::Or(v) => v.iter().any(|x| expr(x, atoms, keys)),
        Expr::Implies(a, b) => !expr(a, atoms, keys) || expr(b, atoms, keys),
        Expr::Iff(a, b) => expr(a, atoms, keys) == expr(b, atoms, keys),
    }
}

impl CompiledRules {
    /// Checks one written record (its modelled columns' texts, in modelled order) against
    /// every rule, reading each cell back as a reader would. Returns the label of the first
    /// rule it breaks, or of the column whose text does not read back.
    pub fn check_written(&self, texts: &[&str]) -> Result<(), String> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let keys: Vec<Key> = self
            .columns
            .iter()
            .zip(texts)
            .map(|(c, t)| read_back(c, t))
            .collect::<Result<_, _>>()?;
        for r in &self.rules {
            if !expr(&r.expr, &r.atoms, &keys) {
                return Err(format!("rule {}", r.label));
            }
        }
        Ok(())
    }
}

impl CompiledRules {
    /// The labels of the rules.
    pub fn labels(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.label.clone()).collect()
    }

    /// Every rule one record (its modelled columns' texts, in modelled order, as in a CSV
    /// file) breaks, by index into [`CompiledRules::labels`]. `Err` names a column whose
    /// text does not read back as a value of the column (the rules cannot be decided).
    pub fn broken_by(&self, texts: &[&str]) -> Result<Vec<usize>, String> {
        if self.rules.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<Key> = self
            .columns
            .iter()
            .zip(texts)
            .map(|(c, t)| read_back(c, t))
            .collect::<Result<_, _>>()?;
        Ok(self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| !expr(&r.expr, &r.atoms, &keys))
            .map(|(i, _)| i)
            .collect())
    }
}

fn read_back(c: &Column, t: &str) -> Result<Key, String> {
    c.key_of_text(t)
        .ok_or_else(|| format!("column {:?}: {t:?} does not read back", c.name()))
}
