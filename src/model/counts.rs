//! Count tables of `n` independent records drawn from a junction-tree model, drawn
//! *without the records* (issue #16: the error bars' bootstrap used to simulate as many
//! records as the noisy total, so its time grew with the table's rows).
//!
//! - [`TreeCounts::draw`]: the tree cliques' count tables have exactly the law of the
//!   clique tables of `n` iid records: the root's table is `Multinomial(n, p_root)`, and
//!   each further clique's table splits every separator cell's count `n_s` (from its
//!   parent's table) by `Multinomial(n_s, p(new | s))`, since a record's new attributes
//!   depend on the records drawn before only through its separator (the tree's Markov
//!   property). Work is O(cells), not O(n).
//! - Any clique inside a tree clique: the projection of that table.
//! - A clique spanning several tree cliques ([`TreeCounts::marginal`]): given the tree
//!   tables, every sequence of `n` records consistent with them is equally likely (the
//!   probability of a sequence is a product over cells of the clique and separator
//!   tables), and such a uniform sequence is built clique by clique by matching, within
//!   each separator cell, the records already built to the new clique's labels uniformly
//!   at random. Matching projections of the two sides gives the table of the projections:
//!   a multivariate hypergeometric contingency table with the two sides' counts as margins
//!   ([`contingency`]). Doing this along the smallest subtree covering the clique gives a
//!   draw of its table with the exact conditional law, so the pair (tree tables, clique
//!   table) has the law it has for records. Work is O(cells of the intermediate tables).
//!
//! Used by `accuracy.rs` (proofs/accuracy.md, "Bootstrap by counts"). Post-processing of
//! the fitted model with seeded simulation randomness: no data, no privacy question.

use rand::Rng;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Binomial, Distribution};

use super::graphical::GraphicalModel;
use crate::marginal::{Clique, Domain, MarginalTable};

/// A table of counts over sorted attributes, row-major (last attribute fastest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    attrs: Vec<usize>,
    shape: Vec<usize>,
    values: Vec<u64>,
}

impl Counts {
    fn new(attrs: Vec<usize>, domain: &Domain) -> Self {
        let shape: Vec<usize> = attrs.iter().map(|&a| domain.size(a)).collect();
        let cells = shape.iter().product();
        Counts {
            attrs,
            shape,
            values: vec![0; cells],
        }
    }

    /// Sums out every attribute not in `keep` (sorted; must be a subset of the table's).
    fn project(&self, keep: &[usize], domain: &Domain) -> Counts {
        if keep == self.attrs.as_slice() {
            return self.clone();
        }
        let mut out = Counts::new(keep.to_vec(), domain);
        let off = offsets(&self.attrs, &self.shape, &strides_of(keep, domain));
        for (&o, &v) in off.iter().zip(&self.values) {
            out.values[o] += v;
        }
        out
    }

    /// As a marginal table over `clique` (the same attributes).
    pub(crate) fn into_table(self, domain: &Domain) -> MarginalTable {
        let clique = Clique::new(self.attrs.iter().copied());
        let values = self.values.iter().map(|&v| v as f64).collect();
        MarginalTable::from_values(clique, domain, values)
            .unwrap_or_else(|| unreachable!("a count table has its clique's cells"))
    }
}

/// `(attribute, stride)` of each of the sorted `attrs` in a row-major table over them.
fn strides_of(attrs: &[usize], domain: &Domain) -> Vec<(usize, usize)> {
    let mut out = vec![(0, 0); attrs.len()];
    let mut s = 1;
    for (i, &a) in attrs.iter().enumerate().rev() {
        out[i] = (a, s);
        s *= domain.size(a);
    }
    out
}

/// For every cell of a row-major table over `attrs` (shape `shape`), `sum_a code_a *
/// stride_a` over the attributes listed in `target` (others count zero).
fn offsets(attrs: &[usize], shape: &[usize], target: &[(usize, usize)]) -> Vec<usize> {
    let mut out = vec![0usize];
    for (&a, &size) in attrs.iter().zip(shape) {
        let stride = target.iter().find(|(t, _)| *t == a).map_or(0, |&(_, s)| s);
        let mut next = Vec::with_capacity(out.len() * size);
        for &o in &out {
            for v in 0..size {
                next.push(o + v * stride);
            }
        }
        out = next;
    }
    out
}

/// `Multinomial(n, p / sum p)` into `out` (parallel to `p`; negative weights count zero).
/// Sequential binomials; a cell of weight zero always gets zero.
fn multinomial(n: u64, p: &[f64], rng: &mut ChaCha20Rng, out: &mut [u64]) {
    out.iter_mut().for_each(|x| *x = 0);
    if n == 0 || p.is_empty() {
        return;
    }
    let w = |i: usize| p[i].max(0.0);
    let Some(last) = (0..p.len()).rev().find(|&i| w(i) > 0.0) else {
        // No mass anywhere (a separator cell the model gives probability zero, which no
        // record reaches): spread uniformly rather than lose records.
        let q = vec![1.0; p.len()];
        return multinomial(n, &q, rng, out);
    };
    // Suffix sums, so each conditional probability is computed without cancellation.
    let mut suffix = vec![0.0; last + 2];
    for i in (0..=last).rev() {
        suffix[i] = suffix[i + 1] + w(i);
    }
    let mut left = n;
    for i in 0..last {
        if left == 0 {
            return;
        }
        let wi = w(i);
        if wi <= 0.0 {
            continue;
        }
        let q = (wi / suffix[i]).clamp(0.0, 1.0);
        let x = Binomial::new(left, q).map_or(0, |b| b.sample(rng));
        out[i] = x;
        left -= x;
    }
    out[last] = left;
}

/// `ln(k!)`: exact sums below 126, Stirling's series with two correction terms above
/// (relative error below 1e-15 there).
fn ln_factorial(k: u64) -> f64 {
    const TABLE: usize = 126;
    static SMALL: std::sync::OnceLock<[f64; TABLE]> = std::sync::OnceLock::new();
    if (k as usize) < TABLE {
        let t = SMALL.get_or_init(|| {
            let mut t = [0.0; TABLE];
            for i in 1..TABLE {
                t[i] = t[i - 1] + (i as f64).ln();
            }
            t
        });
        return t[k as usize];
    }
    let x = k as f64;
    const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
    (x + 0.5) * x.ln() - x + HALF_LN_2PI + (1.0 / 12.0 - 1.0 / (360.0 * x * x)) / x
}

/// The number of marked items in a uniform sample of `sample` items, without replacement,
/// from `good` marked and `bad` unmarked ones: the hypergeometric law. Small samples are
/// drawn item by item; larger ones by Stadlober's ratio-of-uniforms method (HRUA, 1989;
/// the algorithm numpy uses), exact up to floating point in `ln k!`. Written here because
/// `rand_distr` 0.4's `Hypergeometric` draws from the wrong law (rust-random/rand#1508, e.g.
/// `N = 100, K = 50, n = 49`: a chi-square p-value of 0 on a million draws); the fix is in
/// `rand_distr` 0.5, which needs `rand` 0.9 (dpsynth is on 0.8). `hypergeometric_pmf_fits`
/// tests that case.
pub(crate) fn hypergeometric(good: u64, bad: u64, sample: u64, rng: &mut ChaCha20Rng) -> u64 {
    let total = good + bad;
    let sample = sample.min(total);
    if sample == 0 || good == 0 {
        return 0;
    }
    if bad == 0 {
        return sample;
    }
    if sample < 10 || total - sample < 10 {
        // Draw the smaller of the sample and its complement item by item.
        let (draws, complement) = if sample <= total / 2 {
            (sample, false)
        } else {
            (total - sample, true)
        };
        let (mut left, mut marked, mut got) = (total, good, 0u64);
        for _ in 0..draws {
            if rng.gen_range(0..left) < marked {
                marked -= 1;
                got += 1;
            }
            left -= 1;
        }
        return if complement { good - got } else { got };
    }
    const D1: f64 = 1.715_527_769_921_413_5; // 2 sqrt(2/e)
    const D2: f64 = 0.898_916_162_058_898_8; // 3 - 2 sqrt(3/e)
    let m_small = sample.min(total - sample);
    let (min_gb, max_gb) = (good.min(bad), good.max(bad));
    let (p, q) = (min_gb as f64 / total as f64, max_gb as f64 / total as f64);
    let mu = m_small as f64 * p;
    let a = mu + 0.5;
    let var = (total - m_small) as f64 * m_small as f64 * p * q / (total - 1) as f64;
    let c = (var + 0.5).sqrt();
    let h = D1 * c + D2;
    let mode = ((m_small + 1) as f64 * (min_gb + 1) as f64 / (total + 2) as f64).floor() as u64;
    let lf = |k: u64| {
        ln_factorial(k)
            + ln_factorial(min_gb - k)
            + ln_factorial(m_small - k)
            + ln_factorial(max_gb - m_small + k)
    };
    let g = lf(mode);
    let b = ((m_small.min(min_gb) + 1) as f64).min((a + 16.0 * c).floor());
    let k = loop {
        let u: f64 = rng.gen();
        let v: f64 = rng.gen();
        if u <= 0.0 {
            continue;
        }
        let x = a + h * (v - 0.5) / u;
        if x < 0.0 || x >= b {
            continue;
        }
        let k = x.floor() as u64;
        if k > min_gb || k > m_small || max_gb + k < m_small {
            continue;
        }
        let t = g - lf(k);
        if u * (4.0 - u) - 3.0 <= t {
            break k;
        }
        if u * (u - t) >= 1.0 {
            continue;
        }
        if 2.0 * u.ln() <= t {
            break k;
        }
    };
    // k counts the smaller of good/bad in the smaller of sample/complement.
    let k = if good > bad { m_small - k } else { k };
    if m_small < sample {
        good - k
    } else {
        k
    }
}

/// A uniformly random matching of `rows` labels to `cols` labels (both `(key, count)`, the
/// same total): for each pair, how many items of row label `r` meet column label `c`. The
/// multivariate hypergeometric contingency table with these margins, drawn row by row
/// (each row a sequence of univariate hypergeometric draws over the columns left).
/// `cols`' counts are used up. Calls `emit(row_key, col_key, count)` for positive counts.
pub(crate) fn contingency(
    rows: &[(usize, u64)],
    cols: &mut [(usize, u64)],
    rng: &mut ChaCha20Rng,
    mut emit: impl FnMut(usize, usize, u64),
) {
    let mut pool: u64 = cols.iter().map(|c| c.1).sum();
    for &(rk, r) in rows {
        let mut need = r.min(pool);
        if need == 0 {
            continue;
        }
        let mut rest = pool;
        for (ck, c) in cols.iter_mut() {
            if need == 0 {
                break;
            }
            if *c == 0 {
                continue;
            }
            let x = if need == rest {
                *c
            } else {
                hypergeometric(*c, rest - *c, need, rng)
            };
            rest -= *c;
            if x > 0 {
                emit(rk, *ck, x);
                *c -= x;
                need -= x;
            }
        }
        pool -= r.min(pool);
    }
}

/// Matches table `t` with table `m` within the cells of their common attributes (which
/// must be all of `m`'s attributes that `t` has): the table over the union.
fn merge(t: &Counts, m: &Counts, domain: &Domain, rng: &mut ChaCha20Rng) -> Counts {
    let sep: Vec<usize> = t
        .attrs
        .iter()
        .copied()
        .filter(|a| m.attrs.contains(a))
        .collect();
    let mut attrs: Vec<usize> = t.attrs.clone();
    attrs.extend(m.attrs.iter().copied().filter(|a| !sep.contains(a)));
    attrs.sort_unstable();
    let mut out = Counts::new(attrs, domain);
    let out_st = strides_of(&out.attrs, domain);
    let sep_st = strides_of(&sep, domain);
    let m_only: Vec<(usize, usize)> = out_st
        .iter()
        .copied()
        .filter(|(a, _)| !sep.contains(a) && m.attrs.contains(a))
        .collect();
    let n_sep: usize = sep.iter().map(|&a| domain.size(a)).product();
    let bucket = |tab: &Counts, off: &[usize]| {
        let s_of = offsets(&tab.attrs, &tab.shape, &sep_st);
        let mut b: Vec<Vec<(usize, u64)>> = vec![Vec::new(); n_sep];
        for ((&s, &o), &v) in s_of.iter().zip(off).zip(&tab.values) {
            if v > 0 {
                b[s].push((o, v));
            }
        }
        b
    };
    let rows = bucket(t, &offsets(&t.attrs, &t.shape, &out_st));
    let mut cols = bucket(m, &offsets(&m.attrs, &m.shape, &m_only));
    for (r, c) in rows.iter().zip(cols.iter_mut()) {
        contingency(r, c, rng, |ro, co, x| out.values[ro + co] += x);
    }
    out
}

/// One step of drawing a spanning clique's table (see [`TreeCounts::marginal`]).
#[derive(Clone, Debug)]
enum Op {
    /// Push tree clique `clique`'s table, projected to `attrs`.
    Load { clique: usize, attrs: Vec<usize> },
    /// Pop a child's table and the table below it; push their matching.
    Merge,
    /// Project the top table to `attrs`.
    Project(Vec<usize>),
}

/// How to draw `q`'s table from the tree tables: the smallest subtree whose cliques hold
/// all of `q`'s attributes, matched from its leaves to a root. `None` when `q` lies inside
/// one tree clique (a projection) or names an attribute outside the tree.
fn plan(model: &GraphicalModel, q: &Clique) -> Option<Vec<Op>> {
    let tree = model.junction_tree();
    let cliques = tree.cliques();
    let k = cliques.len();
    if tree.containing(model.domain(), q).is_some() {
        return None;
    }
    let nbrs = tree.neighbours();
    let mut alive = vec![true; k];
    // Prune leaves whose attributes of q are also held by another clique still alive
    // (an attribute's cliques are connected, so the rest stay connected).
    loop {
        let leaf = (0..k).find(|&v| {
            alive[v]
                && nbrs[v].iter().filter(|&&u| alive[u]).count() <= 1
                && q.attrs().iter().all(|&a| {
                    !cliques[v].contains(a)
                        || (0..k).any(|u| u != v && alive[u] && cliques[u].contains(a))
                })
                && (0..k).filter(|&u| alive[u]).count() > 1
        });
        match leaf {
            Some(v) => alive[v] = false,
            None => break,
        }
    }
    if q.attrs()
        .iter()
        .any(|&a| !(0..k).any(|c| alive[c] && cliques[c].contains(a)))
    {
        return None;
    }
    let root = (0..k).find(|&c| alive[c])?;
    let mut ops = Vec::new();
    fn visit(
        v: usize,
        parent: Option<usize>,
        q: &Clique,
        cliques: &[Clique],
        nbrs: &[Vec<usize>],
        alive: &[bool],
        ops: &mut Vec<Op>,
    ) {
        let kids: Vec<usize> = nbrs[v]
            .iter()
            .copied()
            .filter(|&u| alive[u] && Some(u) != parent)
            .collect();
        let links = |rest: &[usize]| -> Vec<usize> {
            let mut s: Vec<usize> = rest
                .iter()
                .chain(parent.iter())
                .flat_map(|&u| cliques[v].intersection(&cliques[u]).attrs().to_vec())
                .collect();
            s.sort_unstable();
            s.dedup();
            s
        };
        let keep = |have: &[usize], rest: &[usize]| -> Vec<usize> {
            let l = links(rest);
            have.iter()
                .copied()
                .filter(|&a| q.contains(a) || l.contains(&a))
                .collect()
        };
        let mut have: Vec<usize> = keep(cliques[v].attrs(), &kids);
        ops.push(Op::Load {
            clique: v,
            attrs: have.clone(),
        });
        for (i, &u) in kids.iter().enumerate() {
            visit(u, Some(v), q, cliques, nbrs, alive, ops);
            ops.push(Op::Merge);
            // The child's message holds its separator with v and q's attributes below it.
            let mut from_child: Vec<usize> = q
                .attrs()
                .iter()
                .copied()
                .filter(|&a| !have.contains(&a) && subtree_has(u, v, a, cliques, nbrs, alive))
                .collect();
            have.append(&mut from_child);
            have.sort_unstable();
            let next = keep(&have, &kids[i + 1..]);
            if next != have {
                ops.push(Op::Project(next.clone()));
                have = next;
            }
        }
        if parent.is_none() {
            let target = q.attrs().to_vec();
            if target != have {
                ops.push(Op::Project(target));
            }
        }
    }
    visit(root, None, q, cliques, &nbrs, &alive, &mut ops);
    Some(ops)
}

/// Whether attribute `a` is in some live clique of the subtree hanging from `u` (away from
/// `from`).
fn subtree_has(
    u: usize,
    from: usize,
    a: usize,
    cliques: &[Clique],
    nbrs: &[Vec<usize>],
    alive: &[bool],
) -> bool {
    cliques[u].contains(a)
        || nbrs[u]
            .iter()
            .any(|&w| w != from && alive[w] && subtree_has(w, u, a, cliques, nbrs, alive))
}

/// Cells written by a plan (merge outputs and projection inputs): its cost.
fn plan_cost(ops: &[Op], model: &GraphicalModel) -> u128 {
    let d = model.domain();
    let cells = |attrs: &[usize]| attrs.iter().map(|&a| d.size(a) as u128).product::<u128>();
    let mut stack: Vec<Vec<usize>> = Vec::new();
    let mut cost = 0u128;
    for op in ops {
        match op {
            Op::Load { clique, attrs } => {
                cost += cells(model.junction_tree().cliques()[*clique].attrs());
                stack.push(attrs.clone());
            }
            Op::Merge => {
                let m = stack.pop().unwrap_or_default();
                let mut t = stack.pop().unwrap_or_default();
                t.extend(m);
                t.sort_unstable();
                t.dedup();
                cost += cells(&t);
                stack.push(t);
            }
            Op::Project(attrs) => {
                if let Some(top) = stack.last_mut() {
                    cost += cells(top);
                    *top = attrs.clone();
                }
            }
        }
    }
    cost
}

/// Count tables of the junction tree's cliques for `n` iid records of the model.
pub(crate) struct TreeCounts {
    tables: Vec<Counts>,
}

impl TreeCounts {
    /// Draws the tables (see the module docs): O(cells of the tree), whatever `n`.
    pub(crate) fn draw(model: &GraphicalModel, n: u64, rng: &mut ChaCha20Rng) -> Self {
        let cal = model.calibrated();
        let tree = model.junction_tree();
        let d = model.domain();
        let mut tables: Vec<Option<Counts>> = vec![None; tree.cliques().len()];
        let mut buf = Vec::new();
        let mut probs = Vec::new();
        for &c in tree.order() {
            let attrs = tree.cliques()[c].attrs().to_vec();
            let p = cal.clique(c);
            let mut t = Counts::new(attrs, d);
            match tree.parent(c) {
                None => multinomial(n, p, rng, &mut t.values),
                Some(par) => {
                    let sep = tree.separator(c).attrs().to_vec();
                    let parent = tables[par]
                        .as_ref()
                        .unwrap_or_else(|| unreachable!("parents come first in tree order"));
                    let sep_counts = parent.project(&sep, d);
                    let s_of = offsets(&t.attrs, &t.shape, &strides_of(&sep, d));
                    let mut cells_of: Vec<Vec<usize>> = vec![Vec::new(); sep_counts.values.len()];
                    for (cell, &s) in s_of.iter().enumerate() {
                        cells_of[s].push(cell);
                    }
                    for (s, cells) in cells_of.iter().enumerate() {
                        let ns = sep_counts.values[s];
                        if ns == 0 {
                            continue;
                        }
                        probs.clear();
                        probs.extend(cells.iter().map(|&i| p[i]));
                        buf.resize(cells.len(), 0);
                        multinomial(ns, &probs, rng, &mut buf);
                        for (&i, &x) in cells.iter().zip(&buf) {
                            t.values[i] = x;
                        }
                    }
                }
            }
            tables[c] = Some(t);
        }
        TreeCounts {
            tables: tables.into_iter().flatten().collect(),
        }
    }

    /// The table of `q` for the drawn records: a projection when a tree clique holds `q`,
    /// else a draw from its conditional law given the tree tables (module docs). `rng` is
    /// used only in the second case. `None` if an attribute is outside the model.
    pub(crate) fn marginal(
        &self,
        model: &GraphicalModel,
        q: &Clique,
        rng: &mut ChaCha20Rng,
    ) -> Option<Counts> {
        let d = model.domain();
        if q.attrs().iter().any(|&a| a >= d.len()) {
            return None;
        }
        if let Some(c) = model.junction_tree().containing(d, q) {
            return Some(self.tables[c].project(q.attrs(), d));
        }
        let ops = plan(model, q)?;
        let mut stack: Vec<Counts> = Vec::new();
        for op in ops {
            match op {
                Op::Load { clique, attrs } => stack.push(self.tables[clique].project(&attrs, d)),
                Op::Merge => {
                    let m = stack.pop()?;
                    let t = stack.pop()?;
                    stack.push(merge(&t, &m, d, rng));
                }
                Op::Project(attrs) => {
                    let t = stack.pop()?;
                    stack.push(t.project(&attrs, d));
                }
            }
        }
        stack.pop()
    }
}

/// Cells [`TreeCounts`] touches to draw the tree and then the tables of `cliques`
/// (`None` if some clique cannot be drawn that way): compared with the cost of simulating
/// records to choose the cheaper exact method.
pub(crate) fn counts_cost(model: &GraphicalModel, cliques: &[Clique]) -> Option<u128> {
    let d = model.domain();
    let tree_cells: u128 = model
        .junction_tree()
        .cliques()
        .iter()
        .map(|c| {
            c.attrs()
                .iter()
                .map(|&a| d.size(a) as u128)
                .product::<u128>()
        })
        .sum();
    let mut cost = tree_cells;
    for q in cliques {
        if q.attrs().iter().any(|&a| a >= d.len()) {
            return None;
        }
        if let Some(c) = model.junction_tree().containing(d, q) {
            cost += model.junction_tree().cliques()[c]
                .attrs()
                .iter()
                .map(|&a| d.size(a) as u128)
                .product::<u128>();
            continue;
        }
        cost += plan_cost(&plan(model, q)?, model);
    }
    Some(cost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn hypergeometric_matches_its_mean_and_variance() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        // (good, bad, sample): item by item, HRUA, and the complement branches.
        for &(g, b, s) in &[
            (5u64, 7u64, 4u64),
            (300, 700, 200),
            (700, 300, 900),
            (4_000_000, 6_000_000, 3_000_000),
            (20, 9_000_000, 500_000),
        ] {
            let trials = 20_000;
            let xs: Vec<f64> = (0..trials)
                .map(|_| hypergeometric(g, b, s, &mut rng) as f64)
                .collect();
            let n = (g + b) as f64;
            let mean = s as f64 * g as f64 / n;
            let var = s as f64 * (g as f64 / n) * (b as f64 / n) * (n - s as f64) / (n - 1.0);
            let m = xs.iter().sum::<f64>() / trials as f64;
            let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (trials - 1) as f64;
            // The sample mean is within 5 standard errors (failure probability < 1e-6).
            assert!(
                (m - mean).abs() <= 5.0 * (var / trials as f64).sqrt() + 1e-9,
                "{g} {b} {s}: mean {m} vs {mean}"
            );
            assert!(
                (v / var - 1.0).abs() < 0.06,
                "{g} {b} {s}: var {v} vs {var}"
            );
            assert!(xs.iter().all(|&x| x <= g.min(s) as f64));
        }
    }

    /// The pmf of small cases, exactly: 40,000 draws each against the hypergeometric law by
    /// a chi-square test at level 1e-4 (cells expecting under 20 draws pooled). The second
    /// is the case `rand_distr` 0.4 gets wrong (rust-random/rand#1508), and the third its
    /// complement branch.
    #[test]
    fn hypergeometric_pmf_fits() {
        for (case, &(g, b, s)) in [(30u64, 50u64, 25u64), (50, 50, 49), (50, 50, 51)]
            .iter()
            .enumerate()
        {
            hypergeometric_pmf_fits_case(g, b, s, 2 + case as u64);
        }
    }

    fn hypergeometric_pmf_fits_case(g: u64, b: u64, s: u64, seed: u64) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let trials = 40_000;
        let mut hist = vec![0f64; s as usize + 1];
        for _ in 0..trials {
            hist[hypergeometric(g, b, s, &mut rng) as usize] += 1.0;
        }
        let lnc = |n: u64, k: u64| ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k);
        let mut chi2 = 0.0;
        let mut df = 0;
        let (mut obs_tail, mut exp_tail) = (0.0, 0.0);
        let (lo, hi) = (s.saturating_sub(b) as usize, g.min(s) as usize);
        assert!(hist[..lo].iter().chain(&hist[hi + 1..]).all(|&h| h == 0.0));
        for k in lo as u64..=hi as u64 {
            let p = (lnc(g, k) + lnc(b, s - k) - lnc(g + b, s)).exp();
            let e = p * trials as f64;
            if e < 20.0 {
                obs_tail += hist[k as usize];
                exp_tail += e;
                continue;
            }
            chi2 += (hist[k as usize] - e).powi(2) / e;
            df += 1;
        }
        chi2 += (obs_tail - exp_tail).powi(2) / exp_tail;
        // Upper 1e-4 quantile of chi-square with df degrees of freedom (Wilson-Hilferty).
        let k = df as f64;
        let limit = k * (1.0 - 2.0 / (9.0 * k) + 3.719 * (2.0 / (9.0 * k)).sqrt()).powi(3);
        assert!(
            chi2 < limit,
            "{g} {b} {s}: chi2 {chi2} over {df} cells, limit {limit}"
        );
    }

    #[test]
    fn contingency_keeps_margins() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let rows = vec![(0, 500u64), (1, 0), (2, 1_234_567), (3, 7)];
        let mut cols = vec![(0, 600_000u64), (1, 3), (2, 635_071)];
        let mut t = [[0u64; 3]; 4];
        contingency(&rows, &mut cols, &mut rng, |r, c, x| t[r][c] += x);
        for (r, &(_, n)) in rows.iter().enumerate() {
            assert_eq!(t[r].iter().sum::<u64>(), n);
        }
        assert_eq!(t.iter().map(|r| r[0]).sum::<u64>(), 600_000);
        assert_eq!(t.iter().map(|r| r[1]).sum::<u64>(), 3);
        assert!(cols.iter().all(|c| c.1 == 0));
    }

    /// A model over `sizes` fitted to the exact marginals on `cliques` of a strongly
    /// dependent joint (neighbouring attributes tend to agree).
    fn model_of(sizes: &[usize], cliques: &[Vec<usize>]) -> GraphicalModel {
        let d = Domain::from_sizes(sizes.to_vec());
        let all = Clique::new(0..sizes.len());
        let mut joint = MarginalTable::zeros(all, &d);
        let st = strides_of(&(0..sizes.len()).collect::<Vec<_>>(), &d);
        for (cell, v) in joint.values.iter_mut().enumerate() {
            let code: Vec<usize> = st.iter().map(|&(a, s)| (cell / s) % sizes[a]).collect();
            let agree = cliques
                .iter()
                .filter(|c| c.iter().all(|&a| code[a] == code[c[0]]))
                .count();
            *v = (1.5 * agree as f64).exp() * (1.0 + (cell % 3) as f64);
        }
        let z = joint.total();
        joint.values.iter_mut().for_each(|v| *v *= 1e6 / z);
        let ms: Vec<super::super::Measurement> = cliques
            .iter()
            .map(|c| {
                let t = joint.project(&Clique::new(c.iter().copied()));
                super::super::Measurement::new(t.clique, t.values, 1.0)
            })
            .collect();
        super::super::estimate(&d, &ms, &super::super::EstimationOptions::default(), None)
            .unwrap()
            .0
    }

    /// Per trial: a spanning clique's first cell `x`, and each tree clique's first cell `y_c`,
    /// centred at their expectations; statistics `x, x^2, x y_c` whose means (the first
    /// cell's mean, variance and covariances with the tree) the two methods must share.
    fn stats(x: u64, ys: &[u64], ex: f64, eys: &[f64]) -> Vec<f64> {
        let x = x as f64 - ex;
        let mut v = vec![x, x * x];
        v.extend(ys.iter().zip(eys).map(|(&y, e)| x * (y as f64 - e)));
        v
    }

    fn means(rows: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
        let t = rows.len() as f64;
        let k = rows[0].len();
        let m: Vec<f64> = (0..k)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / t)
            .collect();
        let se: Vec<f64> = (0..k)
            .map(|j| {
                let var = rows.iter().map(|r| (r[j] - m[j]).powi(2)).sum::<f64>() / (t - 1.0);
                (var / t).sqrt()
            })
            .collect();
        (m, se)
    }

    /// Whether every statistic's means agree within 5 standard errors (a true difference of
    /// zero fails with probability below 1e-5 per statistic).
    fn agree(a: &[Vec<f64>], b: &[Vec<f64>]) -> bool {
        let ((ma, sa), (mb, sb)) = (means(a), means(b));
        (0..ma.len()).all(|j| (ma[j] - mb[j]).abs() <= 5.0 * (sa[j].powi(2) + sb[j].powi(2)).sqrt())
    }

    /// Counts drawn from the tree have the law of the records' counts, jointly: a spanning
    /// clique's table moves with the tree tables as it does for records (3,000 trials of
    /// 300 records each). The same check rejects drawing the spanning table independently of
    /// the tree tables, so it has the power to see a wrong conditional law.
    fn joint_law_matches_records(sizes: &[usize], cliques: &[Vec<usize>], q: &[usize]) {
        let model = model_of(sizes, cliques);
        let d = model.domain().clone();
        let q = Clique::new(q.iter().copied());
        assert!(
            model.junction_tree().containing(&d, &q).is_none(),
            "q must span cliques"
        );
        let tree_cliques = model.junction_tree().cliques().to_vec();
        let (n, trials) = (300u64, 3000u64);
        let ex = model.project(&q).values[0] / model.total() * n as f64;
        let eys: Vec<f64> = tree_cliques
            .iter()
            .map(|c| model.project(c).values[0] / model.total() * n as f64)
            .collect();
        let first = |cols: &[Vec<u32>], c: &Clique| -> u64 {
            (0..n as usize)
                .filter(|&r| c.attrs().iter().all(|&a| cols[a][r] == 0))
                .count() as u64
        };
        let mut rec = Vec::new();
        let mut cnt = Vec::new();
        let mut wrong = Vec::new();
        for t in 0..trials {
            let cols =
                crate::model::sample(&model, n as usize, t, crate::model::SamplingMethod::Forward);
            let ys: Vec<u64> = tree_cliques.iter().map(|c| first(&cols, c)).collect();
            rec.push(stats(first(&cols, &q), &ys, ex, &eys));

            let mut rng = ChaCha20Rng::seed_from_u64(t);
            let tc = TreeCounts::draw(&model, n, &mut rng);
            let ys: Vec<u64> = tc.tables.iter().map(|t| t.values[0]).collect();
            let x = tc.marginal(&model, &q, &mut rng).unwrap();
            assert_eq!(x.values.iter().sum::<u64>(), n);
            cnt.push(stats(x.values[0], &ys, ex, &eys));
            let other = TreeCounts::draw(&model, n, &mut rng);
            let x = other.marginal(&model, &q, &mut rng).unwrap();
            wrong.push(stats(x.values[0], &ys, ex, &eys));
        }
        assert!(
            agree(&rec, &cnt),
            "{:?} vs {:?}",
            means(&rec).0,
            means(&cnt).0
        );
        assert!(
            !agree(&rec, &wrong),
            "the check cannot tell independent tables apart"
        );
    }

    #[test]
    fn spanning_tables_have_the_records_law_on_a_path() {
        // Tree cliques {0,1}, {1,2}, {2,3}: the pair {0,3} spans the whole path.
        joint_law_matches_records(
            &[3, 2, 3, 2],
            &[vec![0, 1], vec![1, 2], vec![2, 3]],
            &[0, 3],
        );
    }

    #[test]
    fn spanning_tables_have_the_records_law_on_a_star() {
        // Tree cliques {0,1}, {0,2}, {0,3}: the triple {1,2,3} needs a branching subtree.
        joint_law_matches_records(
            &[2, 3, 2, 3],
            &[vec![0, 1], vec![0, 2], vec![0, 3]],
            &[1, 2, 3],
        );
    }

    #[test]
    fn multinomial_sums_and_keeps_zeros() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let p = [0.2, 0.0, 0.5, 0.3, 0.0];
        let mut out = [0u64; 5];
        multinomial(9_768_421, &p, &mut rng, &mut out);
        assert_eq!(out.iter().sum::<u64>(), 9_768_421);
        assert_eq!((out[1], out[4]), (0, 0));
        assert!((out[2] as f64 / 9_768_421.0 - 0.5).abs() < 0.001);
    }
}
