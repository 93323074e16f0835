//! Deciding rules on cells: which cells of the model's domain can hold a record that obeys
//! the rules (structural zeros), and which values a record's numbers may take inside its
//! cell (for decoding).
//!
//! A cell fixes every categorical value and, for numbers, dates and date-times, a set of axis
//! values (a bin without its special values, or one special value). Each atom of a rule is
//! first evaluated on the whole cell in three-valued logic: true for every value in it, false
//! for every value, or unknown. Categorical tests are never unknown, so categories are
//! decided exactly. When the rules are unknown on a cell, a search assigns truth values to the
//! unknown atoms until the rules are decided; each assignment that makes them true is a set of
//! interval constraints (`x in S`) and difference constraints (`x - y <= c`, strict or not)
//! over the cell's numbers, and the cell is possible exactly when one of these systems has a
//! solution. Difference constraints are decided exactly by shortest paths (no negative
//! cycle), on whole numbers as on reals, so "possible" means some value in the cell really
//! obeys every rule (interval reasoning without over-approximation).
//!
//! The same systems drive decoding: the numbers of a record are drawn one after another,
//! each from the union of its projections over the systems still solvable, so every draw
//! keeps a solution within reach and the finished record obeys the rules.

use super::super::value::{Interval, IntervalSet};
use super::super::CodeValue;
use super::{Atom, CmpOp, CompiledRules, Component, Expr, MAX_RULE_CELLS};
use crate::schema::error::SchemaProblem;

/// Three-valued truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum K {
    F,
    U,
    T,
}

impl K {
    fn not(self) -> K {
        match self {
            K::F => K::T,
            K::T => K::F,
            K::U => K::U,
        }
    }
    fn and(self, o: K) -> K {
        match (self, o) {
            (K::F, _) | (_, K::F) => K::F,
            (K::T, K::T) => K::T,
            _ => K::U,
        }
    }
    fn or(self, o: K) -> K {
        self.not().and(o.not()).not()
    }
}

fn kleene(e: &Expr, v: &[K]) -> K {
    match e {
        Expr::Const(b) => {
            if *b {
                K::T
            } else {
                K::F
            }
        }
        Expr::Atom(i) => v[*i],
        Expr::Not(x) => kleene(x, v).not(),
        Expr::And(xs) => xs.iter().fold(K::T, |a, x| a.and(kleene(x, v))),
        Expr::Or(xs) => xs.iter().fold(K::F, |a, x| a.or(kleene(x, v))),
        Expr::Implies(a, b) => kleene(a, v).not().or(kleene(b, v)),
        Expr::Iff(a, b) => {
            let (x, y) = (kleene(a, v), kleene(b, v));
            if x == K::U || y == K::U {
                K::U
            } else if x == y {
                K::T
            } else {
                K::F
            }
        }
    }
}

/// Structural zeros of one component: `allowed[cell]` over the joint domain of `columns`
/// (modelled column indices, increasing), row-major (the last column varies fastest).
#[derive(Clone, Debug, PartialEq)]
pub struct ZeroMask {
    pub columns: Vec<usize>,
    pub allowed: Vec<bool>,
}

/// `x_a - x_b <= c` (`< c` if strict), over variables of a system.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Diff {
    a: usize,
    b: usize,
    c: f64,
    strict: bool,
}

/// A convex system: an interval per variable and difference constraints.
#[derive(Clone, Debug, PartialEq)]
struct Convex {
    bounds: Vec<Interval>,
    diffs: Vec<Diff>,
}

/// Path weight: value and whether some edge on it was strict (lexicographically smaller).
#[derive(Clone, Copy, Debug, PartialEq)]
struct W(f64, bool);

impl W {
    const INF: W = W(f64::INFINITY, false);
    fn add(self, o: W) -> W {
        W(self.0 + o.0, self.1 || o.1)
    }
    fn less(self, o: W) -> bool {
        self.0 < o.0 || (self.0 == o.0 && self.1 && !o.1)
    }
}

impl Convex {
    /// All-pairs shortest paths over the variables and a source node 0 (`x_0 = 0`); None if
    /// the system has no solution (a negative cycle).
    fn closure(&self) -> Option<Vec<Vec<W>>> {
        let n = self.bounds.len() + 1;
        let mut d = vec![vec![W::INF; n]; n];
        for (i, row) in d.iter_mut().enumerate() {
            row[i] = W(0.0, false);
        }
        let relax = |d: &mut Vec<Vec<W>>, i: usize, j: usize, w: W| {
            if w.less(d[i][j]) {
                d[i][j] = w;
            }
        };
        for (v, b) in self.bounds.iter().enumerate() {
            if b.hi.is_finite() {
                relax(&mut d, 0, v + 1, W(b.hi, b.hi_open));
            }
            if b.lo.is_finite() {
                relax(&mut d, v + 1, 0, W(-b.lo, b.lo_open));
            }
        }
        for c in &self.diffs {
            relax(&mut d, c.b + 1, c.a + 1, W(c.c, c.strict));
        }
        for k in 0..n {
            for i in 0..n {
                if d[i][k].0 == f64::INFINITY {
                    continue;
                }
                for j in 0..n {
                    let w = d[i][k].add(d[k][j]);
                    if w.less(d[i][j]) {
                        d[i][j] = w;
                    }
                }
            }
        }
        for (i, row) in d.iter().enumerate() {
            if row[i].less(W(0.0, false)) {
                return None;
            }
        }
        Some(d)
    }

    /// The values variable `v` takes over the system's solutions (None if none).
    fn projection(&self, v: usize, grid: bool) -> Option<Interval> {
        let d = self.closure()?;
        let hi = d[0][v + 1];
        let lo = d[v + 1][0];
        let iv = Interval {
            lo: -lo.0,
            hi: hi.0,
            lo_open: lo.1 || lo.0 == f64::INFINITY,
            hi_open: hi.1 || hi.0 == f64::INFINITY,
        }
        .normalized(grid);
        (!iv.is_empty()).then_some(iv)
    }
}

/// The literal an assigned atom contributes to a system.
enum Lit {
    In(usize, IntervalSet),
    Rel(usize, CmpOp, usize),
}

/// The feasible systems of one component on one record (its numbers to draw).
#[derive(Clone, Debug)]
struct ComponentSolution {
    /// Modelled columns of the systems' variables.
    vars: Vec<usize>,
    grid: Vec<bool>,
    systems: Vec<Convex>,
}

/// What the rules leave open for one record: per component whose rules its codes do not
/// settle, the numbers to draw and the systems they must solve.
#[derive(Clone, Debug, Default)]
pub struct RecordSolution {
    parts: Vec<ComponentSolution>,
}

impl RecordSolution {
    /// Modelled columns whose values the rules constrain on this record.
    pub fn constrained(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().flat_map(|p| p.vars.iter().copied())
    }

    /// Draws every constrained column in turn: `draw(col, allowed)` must return a value in
    /// `allowed` (axis values; never empty). Returns `(col, value)` pairs.
    pub fn draw(&mut self, mut draw: impl FnMut(usize, &IntervalSet) -> f64) -> Vec<(usize, f64)> {
        let mut out = Vec::new();
        for p in &mut self.parts {
            for v in 0..p.vars.len() {
                let projections: Vec<Option<Interval>> = p
                    .systems
                    .iter()
                    .map(|s| s.projection(v, p.grid[v]))
                    .collect();
                let allowed = IntervalSet::from_parts(
                    p.grid[v],
                    projections.iter().flatten().copied().collect(),
                );
                let x = draw(p.vars[v], &allowed);
                // Keep the systems that still have a solution with x fixed.
                let mut kept = Vec::new();
                for (mut s, pr) in std::mem::take(&mut p.systems).into_iter().zip(projections) {
                    if pr.is_some_and(|i| i.contains(x)) {
                        s.bounds[v] = Interval::point(x);
                        kept.push(s);
                    }
                }
                p.systems = kept;
                out.push((p.vars[v], x));
            }
        }
        out
    }
}

/// Most comparisons of numbers (with values or each other) in one component: the search
/// over their truth values is exponential in the worst case.
pub const MAX_NUMERIC_ATOMS: usize = 16;

impl CompiledRules {
    fn atom_kleene(&self, a: &Atom, codes: &[u32]) -> K {
        match a {
            Atom::Code { col, truth, .. } => to_k(truth[codes[*col] as usize]),
            Atom::Pair { a, b, truth, .. } => {
                to_k(truth[codes[*a] as usize * self.cards[*b] + codes[*b] as usize])
            }
            Atom::Bound { col, set, .. } => match &self.values[*col][codes[*col] as usize] {
                CodeValue::Values(v) => {
                    if set.covers(v) {
                        K::T
                    } else if set.intersect(v).is_empty() {
                        K::F
                    } else {
                        K::U
                    }
                }
                _ => K::F,
            },
            Atom::Diff { a, b, op } => {
                let (va, vb) = (
                    &self.values[*a][codes[*a] as usize],
                    &self.values[*b][codes[*b] as usize],
                );
                let (CodeValue::Values(x), CodeValue::Values(y)) = (va, vb) else {
                    return K::F;
                };
                let (Some(x), Some(y)) = (x.hull(), y.hull()) else {
                    return K::F;
                };
                diff_kleene(&x, *op, &y)
            }
        }
    }

    /// Three-valued truth of every atom of rule `ri` on a cell.
    fn rule_atoms(&self, ri: usize, codes: &[u32]) -> Vec<K> {
        self.rules[ri]
            .atoms
            .iter()
            .map(|a| self.atom_kleene(a, codes))
            .collect()
    }

    /// Searches truth values of the unknown atoms of `rules` on a cell; calls `leaf` with the
    /// literals of every assignment that makes all of them true. Stops when `leaf` returns
    /// true; returns whether it did.
    fn search(
        &self,
        rules: &[usize],
        known: &mut [Vec<K>],
        assigned: &mut Vec<(usize, usize)>,
        leaf: &mut dyn FnMut(&[Lit]) -> bool,
    ) -> bool {
        let mut first_unknown = None;
        let mut all_true = true;
        for (k, &ri) in rules.iter().enumerate() {
            match kleene(&self.rules[ri].expr, &known[k]) {
                K::F => return false,
                K::T => {}
                K::U => {
                    all_true = false;
                    if first_unknown.is_none() {
                        first_unknown = known[k].iter().position(|&x| x == K::U).map(|a| (k, a));
                    }
                }
            }
        }
        if all_true {
            let lits: Vec<Lit> = assigned
                .iter()
                .map(|&(k, a)| {
                    let truth = known[k][a] == K::T;
                    match &self.rules[rules[k]].atoms[a] {
                        Atom::Bound { col, set, .. } => {
                            Lit::In(*col, if truth { set.clone() } else { set.complement() })
                        }
                        Atom::Diff { a, b, op } => {
                            Lit::Rel(*a, if truth { *op } else { op.negated() }, *b)
                        }
                        // Categorical atoms are never unknown.
                        _ => Lit::In(usize::MAX, IntervalSet::all(true)),
                    }
                })
                .collect();
            return leaf(&lits);
        }
        let Some((k, a)) = first_unknown else {
            return false;
        };
        for v in [K::T, K::F] {
            known[k][a] = v;
            assigned.push((k, a));
            let done = self.search(rules, known, assigned, leaf);
            assigned.pop();
            known[k][a] = K::U;
            if done {
                return true;
            }
        }
        false
    }

    /// The convex systems a set of literals expands to on a cell (one per choice of interval
    /// of each variable's set and of side for each `!=`).
    fn systems(&self, lits: &[Lit], codes: &[u32]) -> (Vec<usize>, Vec<bool>, Vec<Convex>) {
        let mut vars: Vec<usize> = Vec::new();
        for l in lits {
            match l {
                Lit::In(c, _) if *c != usize::MAX => vars.push(*c),
                Lit::Rel(a, _, b) => {
                    vars.push(*a);
                    vars.push(*b);
                }
                _ => {}
            }
        }
        vars.sort_unstable();
        vars.dedup();
        let grid: Vec<bool> = vars
            .iter()
            .map(|&c| self.axes[c].is_some_and(|a| a.is_grid()))
            .collect();
        let pos = |c: usize| vars.iter().position(|&v| v == c).unwrap_or(0);
        let mut doms: Vec<IntervalSet> = vars
            .iter()
            .zip(&grid)
            .map(|(&c, &g)| match &self.values[c][codes[c] as usize] {
                CodeValue::Values(v) => v.clone(),
                _ => IntervalSet::empty(g),
            })
            .collect();
        let mut rels: Vec<(usize, CmpOp, usize)> = Vec::new();
        for l in lits {
            match l {
                Lit::In(c, s) if *c != usize::MAX => {
                    let i = pos(*c);
                    doms[i] = doms[i].intersect(s);
                }
                Lit::Rel(a, op, b) => rels.push((pos(*a), *op, pos(*b))),
                _ => {}
            }
        }
        if doms.iter().any(|d| d.is_empty()) {
            return (vars, grid, Vec::new());
        }
        // Expand interval choices and the sides of each `!=`.
        let mut out = vec![Convex {
            bounds: Vec::new(),
            diffs: Vec::new(),
        }];
        for d in &doms {
            let mut next = Vec::with_capacity(out.len() * d.parts.len());
            for s in &out {
                for p in &d.parts {
                    let mut s2 = s.clone();
                    s2.bounds.push(*p);
                    next.push(s2);
                }
            }
            out = next;
        }
        for &(a, op, b) in &rels {
            let g = grid[a];
            // x_a - x_b <= c, strict on the reals; a whole-number grid turns `< c` into `<= c - 1`.
            let le = |a: usize, b: usize, strict: bool| {
                if strict && g {
                    Diff {
                        a,
                        b,
                        c: -1.0,
                        strict: false,
                    }
                } else {
                    Diff {
                        a,
                        b,
                        c: 0.0,
                        strict,
                    }
                }
            };
            let choices: Vec<Vec<Diff>> = match op {
                CmpOp::Le => vec![vec![le(a, b, false)]],
                CmpOp::Lt => vec![vec![le(a, b, true)]],
                CmpOp::Ge => vec![vec![le(b, a, false)]],
                CmpOp::Gt => vec![vec![le(b, a, true)]],
                CmpOp::Eq => vec![vec![le(a, b, false), le(b, a, false)]],
                CmpOp::Ne => vec![vec![le(a, b, true)], vec![le(b, a, true)]],
            };
            let mut next = Vec::with_capacity(out.len() * choices.len());
            for s in &out {
                for ch in &choices {
                    let mut s2 = s.clone();
                    s2.diffs.extend(ch.iter().copied());
                    next.push(s2);
                }
            }
            out = next;
        }
        let feasible = out.into_iter().filter(|s| s.closure().is_some()).collect();
        (vars, grid, feasible)
    }

    /// Whether some record in the cell `codes` obeys the rules of `comp` (codes indexed by
    /// modelled column; only the component's columns are read).
    pub(crate) fn cell_allowed(&self, rules: &[usize], codes: &[u32]) -> bool {
        let mut known: Vec<Vec<K>> = rules.iter().map(|&r| self.rule_atoms(r, codes)).collect();
        let mut found = false;
        self.search(rules, &mut known, &mut Vec::new(), &mut |lits| {
            let (_, _, sys) = self.systems(lits, codes);
            found = !sys.is_empty();
            found
        });
        found
    }

    /// `allowed[cell]` over the joint domain of `columns` for the given rules.
    fn mask(&self, columns: &[usize], rules: &[usize]) -> Vec<bool> {
        let cells: usize = columns.iter().map(|&c| self.cards[c]).product();
        let mut codes = vec![0u32; self.cards.len()];
        let mut out = Vec::with_capacity(cells);
        for _ in 0..cells {
            out.push(self.cell_allowed(rules, &codes));
            // Advance the row-major counter (last column fastest).
            for &c in columns.iter().rev() {
                codes[c] += 1;
                if (codes[c] as usize) < self.cards[c] {
                    break;
                }
                codes[c] = 0;
            }
        }
        out
    }

    fn cells_of(&self, columns: &[usize]) -> usize {
        columns
            .iter()
            .map(|&c| self.cards[c])
            .try_fold(1usize, |a, b| a.checked_mul(b))
            .unwrap_or(usize::MAX)
    }

    fn numeric_atoms(&self, comp: &Component) -> usize {
        comp.rules
            .iter()
            .flat_map(|&r| &self.rules[r].atoms)
            .filter(|a| matches!(a, Atom::Bound { .. } | Atom::Diff { .. }))
            .count()
    }

    /// Problems that make the rules unusable: a component too large to decide cell by cell,
    /// too many comparisons of numbers, a rule no record can satisfy, rules that together
    /// leave a column no value.
    pub(crate) fn satisfiability_problems(&self) -> Vec<SchemaProblem> {
        let mut problems = Vec::new();
        // Rules without columns are constants.
        for r in self.rules.iter().filter(|r| r.columns.is_empty()) {
            if kleene(&r.expr, &[]) != K::T {
                problems.push(SchemaProblem::BadRule {
                    rule: r.label.clone(),
                    message: "no record can satisfy it".into(),
                });
            }
        }
        // Components with a problem of their own (not checked again together).
        let mut bad_components: Vec<usize> = Vec::new();
        for (ci, comp) in self.components.iter().enumerate() {
            let labels: Vec<&str> = comp
                .rules
                .iter()
                .map(|&r| self.rules[r].label.as_str())
                .collect();
            let names: Vec<&str> = comp
                .columns
                .iter()
                .map(|&c| self.columns[c].name())
                .collect();
            let cells = self.cells_of(&comp.columns);
            if cells > MAX_RULE_CELLS {
                problems.push(SchemaProblem::BadRule {
                    rule: labels.join(", "),
                    message: format!(
                        "these rules must be decided together (each leaves a column they share undecided inside one of its bins, or compares it with another column) over the columns {} whose joint domain has {} cells, more than the {MAX_RULE_CELLS} dpsynth decides cell by cell; use fewer bins or values for these columns, bin edges at the values the rules compare with, or rules over fewer columns",
                        names.join(", "),
                        if cells == usize::MAX { "too many".to_string() } else { cells.to_string() }
                    ),
                });
                bad_components.push(ci);
                continue;
            }
            let n = self.numeric_atoms(comp);
            if n > MAX_NUMERIC_ATOMS {
                problems.push(SchemaProblem::BadRule {
                    rule: labels.join(", "),
                    message: format!(
                        "together these rules compare numbers or dates {n} times over the columns {}; at most {MAX_NUMERIC_ATOMS}: split them into rules over fewer columns",
                        names.join(", ")
                    ),
                });
                bad_components.push(ci);
                continue;
            }
            let mut alone_bad = false;
            for &r in &comp.rules {
                let cols = &self.rules[r].columns;
                if !self.mask(cols, &[r]).iter().any(|&a| a) {
                    alone_bad = true;
                    problems.push(SchemaProblem::BadRule {
                        rule: self.rules[r].label.clone(),
                        message: "no record can satisfy it (with the schema's values, bounds and missing-value policies)".into(),
                    });
                }
            }
            if alone_bad {
                bad_components.push(ci);
                continue;
            }
            if comp.rules.len() < 2 {
                continue;
            }
            if !self.mask(&comp.columns, &comp.rules).iter().any(|&a| a) {
                bad_components.push(ci);
                problems.push(self.none_left(&comp.rules));
            }
        }
        // Components sharing (decided) columns: satisfiable together?
        for set in &self.linked {
            if set.iter().any(|k| bad_components.contains(k)) {
                continue;
            }
            let masks: Vec<ZeroMask> = set
                .iter()
                .map(|&k| {
                    let c = &self.components[k];
                    ZeroMask {
                        columns: c.columns.clone(),
                        allowed: self.mask(&c.columns, &c.rules),
                    }
                })
                .collect();
            let rules: Vec<usize> = set
                .iter()
                .flat_map(|&k| self.components[k].rules.iter().copied())
                .collect();
            match self.jointly_possible(&masks) {
                Ok(true) => {}
                Ok(false) => problems.push(self.none_left(&rules)),
                Err(cells) => {
                    let labels: Vec<&str> = rules
                        .iter()
                        .map(|&r| self.rules[r].label.as_str())
                        .collect();
                    problems.push(SchemaProblem::BadRule {
                        rule: labels.join(", "),
                        message: format!(
                            "these rules share columns whose joint domain has {cells} cells, more than the {MAX_RULE_CELLS} dpsynth checks together; use fewer bins or values for the shared columns"
                        ),
                    });
                }
            }
        }
        problems
    }

    /// "Together these rules leave column X no possible value", naming the column the rules
    /// share most.
    fn none_left(&self, rules: &[usize]) -> SchemaProblem {
        let labels: Vec<&str> = rules
            .iter()
            .map(|&r| self.rules[r].label.as_str())
            .collect();
        let mut columns: Vec<usize> = rules
            .iter()
            .flat_map(|&r| self.rules[r].columns.iter().copied())
            .collect();
        columns.sort_unstable();
        columns.dedup();
        let shared = columns
            .iter()
            .copied()
            .max_by_key(|&c| {
                (
                    rules
                        .iter()
                        .filter(|&&r| self.rules[r].columns.contains(&c))
                        .count(),
                    std::cmp::Reverse(c),
                )
            })
            .unwrap_or(0);
        SchemaProblem::BadRule {
            rule: labels.join(", "),
            message: format!(
                "together these rules leave column {:?} no possible value",
                self.columns[shared].name()
            ),
        }
    }

    /// Whether some cell of the joint domain of masks that share columns is allowed by every
    /// one of them. A column in one mask only is free, so it is enough to find codes of the
    /// shared columns that every mask's projection allows. `Err(cells)` when the shared
    /// columns' joint domain is larger than [`MAX_RULE_CELLS`].
    fn jointly_possible(&self, masks: &[ZeroMask]) -> Result<bool, usize> {
        let mut shared: Vec<usize> = Vec::new();
        for m in masks {
            for &c in &m.columns {
                if !shared.contains(&c)
                    && masks.iter().filter(|o| o.columns.contains(&c)).count() > 1
                {
                    shared.push(c);
                }
            }
        }
        shared.sort_unstable();
        let cells = self.cells_of(&shared);
        if cells > MAX_RULE_CELLS {
            return Err(cells);
        }
        // Per mask: which codes of its shared columns some allowed cell has.
        let projections: Vec<(Vec<usize>, Vec<bool>)> = masks
            .iter()
            .map(|m| {
                let keep: Vec<usize> = (0..m.columns.len())
                    .filter(|&i| shared.contains(&m.columns[i]))
                    .collect();
                let sub: Vec<usize> = keep.iter().map(|&i| m.columns[i]).collect();
                let mut proj = vec![false; self.cells_of(&sub)];
                let mut codes = vec![0usize; m.columns.len()];
                for &ok in &m.allowed {
                    if ok {
                        let at = keep
                            .iter()
                            .fold(0, |acc, &i| acc * self.cards[m.columns[i]] + codes[i]);
                        proj[at] = true;
                    }
                    for i in (0..codes.len()).rev() {
                        codes[i] += 1;
                        if codes[i] < self.cards[m.columns[i]] {
                            break;
                        }
                        codes[i] = 0;
                    }
                }
                (sub, proj)
            })
            .collect();
        let mut codes = vec![0usize; self.cards.len()];
        for _ in 0..cells {
            let all = projections.iter().all(|(sub, proj)| {
                proj[sub.iter().fold(0, |acc, &c| acc * self.cards[c] + codes[c])]
            });
            if all {
                return Ok(true);
            }
            for &c in shared.iter().rev() {
                codes[c] += 1;
                if codes[c] < self.cards[c] {
                    break;
                }
                codes[c] = 0;
            }
        }
        Ok(false)
    }

    /// The structural zeros of the rules: one mask per component that forbids some cell.
    /// Masks may share columns (a hub column decided code by code, see [`Component`]); a
    /// cell of the whole domain is possible exactly when every mask allows it.
    pub fn zero_masks(&self) -> Vec<ZeroMask> {
        self.components
            .iter()
            .filter_map(|comp| {
                let allowed = self.mask(&comp.columns, &comp.rules);
                (!allowed.iter().all(|&a| a)).then(|| ZeroMask {
                    columns: comp.columns.clone(),
                    allowed,
                })
            })
            .collect()
    }

    /// What the rules leave open for a record with these codes (one per modelled column):
    /// the numbers to draw jointly and the systems they must solve. An error names the rules
    /// no value in the record's cells can satisfy (a structural zero was sampled: a bug).
    pub fn solve_record(&self, codes: &[u32]) -> Result<RecordSolution, String> {
        let mut sol = RecordSolution::default();
        for comp in &self.components {
            let mut known: Vec<Vec<K>> = comp
                .rules
                .iter()
                .map(|&r| self.rule_atoms(r, codes))
                .collect();
            let mut all_true = true;
            for (k, &r) in comp.rules.iter().enumerate() {
                match kleene(&self.rules[r].expr, &known[k]) {
                    K::F => return Err(format!("rule {}", self.rules[r].label)),
                    K::U => all_true = false,
                    K::T => {}
                }
            }
            if all_true {
                continue;
            }
            // Every feasible system of every satisfying assignment, over all the variables
            // any of them constrains.
            let mut found: Vec<(Vec<usize>, Vec<bool>, Vec<Convex>)> = Vec::new();
            self.search(&comp.rules, &mut known, &mut Vec::new(), &mut |lits| {
                let s = self.systems(lits, codes);
                if !s.2.is_empty() {
                    found.push(s);
                }
                false
            });
            if found.is_empty() {
                let labels: Vec<&str> = comp
                    .rules
                    .iter()
                    .map(|&r| self.rules[r].label.as_str())
                    .collect();
                return Err(format!("rules {}", labels.join(", ")));
            }
            let mut vars: Vec<usize> = found.iter().flat_map(|f| f.0.iter().copied()).collect();
            vars.sort_unstable();
            vars.dedup();
            let grid: Vec<bool> = vars
                .iter()
                .map(|&c| self.axes[c].is_some_and(|a| a.is_grid()))
                .collect();
            // Re-express each system over the union of variables: a variable a system does not
            // constrain ranges over its cell's values.
            let mut systems = Vec::new();
            for (fv, _, sys) in found {
                for s in sys {
                    let mut parts: Vec<Vec<Interval>> = Vec::new();
                    for &c in &vars {
                        match fv.iter().position(|&x| x == c) {
                            Some(i) => parts.push(vec![s.bounds[i]]),
                            None => match &self.values[c][codes[c] as usize] {
                                CodeValue::Values(v) => parts.push(v.parts.clone()),
                                _ => parts.push(Vec::new()),
                            },
                        }
                    }
                    let remap = |i: usize| {
                        let c = fv[i];
                        vars.iter().position(|&x| x == c).unwrap_or(0)
                    };
                    let diffs: Vec<Diff> = s
                        .diffs
                        .iter()
                        .map(|d| Diff {
                            a: remap(d.a),
                            b: remap(d.b),
                            ..*d
                        })
                        .collect();
                    // One system per choice of interval for the unconstrained variables.
                    let mut acc: Vec<Vec<Interval>> = vec![Vec::new()];
                    for p in &parts {
                        let mut next = Vec::new();
                        for a in &acc {
                            for iv in p {
                                let mut a2 = a.clone();
                                a2.push(*iv);
                                next.push(a2);
                            }
                        }
                        acc = next;
                    }
                    for bounds in acc {
                        systems.push(Convex {
                            bounds,
                            diffs: diffs.clone(),
                        });
                    }
                }
            }
            sol.parts.push(ComponentSolution {
                vars,
                grid,
                systems,
            });
        }
        Ok(sol)
    }
}

fn to_k(b: bool) -> K {
    if b {
        K::T
    } else {
        K::F
    }
}

/// `x op y` for every pair of values from two intervals: true, false, or unknown.
fn diff_kleene(x: &Interval, op: CmpOp, y: &Interval) -> K {
    // Whether every x is <= every y (and strictly below), and the reverse.
    let all_le = x.hi <= y.lo;
    let all_lt = x.hi < y.lo || (x.hi == y.lo && (x.hi_open || y.lo_open));
    let all_ge = x.lo >= y.hi;
    let all_gt = x.lo > y.hi || (x.lo == y.hi && (x.lo_open || y.hi_open));
    let single = |i: &Interval| i.lo == i.hi && !i.lo_open && !i.hi_open;
    let both_point_equal = single(x) && single(y) && x.lo == y.lo;
    match op {
        CmpOp::Le => {
            if all_le {
                K::T
            } else if all_gt {
                K::F
            } else {
                K::U
            }
        }
        CmpOp::Lt => {
            if all_lt {
                K::T
            } else if all_ge {
                K::F
            } else {
                K::U
            }
        }
        CmpOp::Ge => diff_kleene(y, CmpOp::Le, x),
        CmpOp::Gt => diff_kleene(y, CmpOp::Lt, x),
        CmpOp::Eq => {
            if both_point_equal {
                K::T
            } else if all_lt || all_gt {
                K::F
            } else {
                K::U
            }
        }
        CmpOp::Ne => diff_kleene(x, CmpOp::Eq, y).not(),
    }
}
