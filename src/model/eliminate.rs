//! Variable elimination over small tables of probabilities, with a fused sum-product
//! kernel: `out(O) = sum over the other attributes of prod_k f_k`, computed by one walk over
//! the union of the factors' attributes without materialising the product.
//!
//! Model queries that no tree clique contains reduce each clique of the connecting
//! subtree to the attributes that matter, then eliminate everything but the query
//! greedily (min-weight: the variable whose factors span the fewest cells first).

use std::borrow::Cow;

use multiversion::multiversion;

use crate::marginal::{Clique, Domain};

/// A table of non-negative numbers over a clique (row-major).
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub(crate) clique: Clique,
    pub(crate) values: Vec<f64>,
}

/// Cells of the inner block the kernel walks with precomputed offsets (the trailing
/// attributes of the union, fused until the block holds at least this many cells).
const BLOCK_CELLS: usize = 512;

/// How an operand is read along the inner block.
enum Access {
    /// The operand has none of the block's attributes: one value per block.
    Scalar,
    /// The block's attributes are the operand's trailing ones: consecutive cells.
    Contiguous,
    /// Anything else: one precomputed offset per block cell.
    Gather(Vec<usize>),
}

/// Fused runs shorter than this go to the blocked kernel ([`sum_product_blocked`]): a
/// few cells per pass would leave the run kernel's bookkeeping on the hot path.
const MIN_RUN: usize = 8;

/// A pass's fixed cost (odometer step, loop set-up) in units of one operand's read of one
/// cell, for choosing the innermost run (measured on NIST's spanning projections).
const PASS_COST: f64 = 20.0;

/// The loop nest of a sum-product, outermost level first: each level's size and every
/// operand's stride along it (factors, then the output; 0 where the operand lacks it).
struct Levels {
    sizes: Vec<usize>,
    fstr: Vec<Vec<usize>>,
    ostr: Vec<usize>,
}

/// Stride of attribute `a` in a row-major table over `c` (0 when `c` lacks it).
fn stride(domain: &Domain, c: &Clique, a: usize) -> usize {
    match c.axis_of(a) {
        Some(ax) => c.attrs()[ax + 1..]
            .iter()
            .map(|&b| domain.size(b))
            .product(),
        None => 0,
    }
}

/// The loop order for `out = sum prod factors`: the innermost level is the axis the fewest
/// operands read, preferring unit strides (so the inner loop streams whole rows and the
/// other factors stay scalars), widened by every axis that continues it linearly in all
/// operands; the other axes outside it in sorted order. Summed-out axes keep their
/// ascending order among themselves (only the last one can be innermost), so each output
/// cell adds its terms in the same order as a walk over the sorted union (the blocked
/// kernel's order). Adjacent levels every operand reads linearly are fused.
fn levels(domain: &Domain, factors: &[&Clique], out: &Clique, union: &Clique) -> Levels {
    let attrs = union.attrs();
    let stride_in = |c: &Clique, a: usize| stride(domain, c, a);
    // Per axis of the union: every operand's stride (factors then the output).
    let ops: Vec<&Clique> = factors.iter().copied().chain([out]).collect();
    let str_of: Vec<Vec<usize>> = attrs
        .iter()
        .map(|&a| ops.iter().map(|c| stride_in(c, a)).collect())
        .collect();
    let size = |ax: usize| domain.size(attrs[ax]);
    let mut kept: Vec<usize> = (0..attrs.len())
        .filter(|&ax| str_of[ax][factors.len()] != 0)
        .collect();
    let mut summed: Vec<usize> = (0..attrs.len())
        .filter(|&ax| str_of[ax][factors.len()] == 0)
        .collect();
    // Innermost first. The candidates: any kept axis, and the last remaining summed one.
    let mut inner_first: Vec<usize> = Vec::with_capacity(attrs.len());
    let take = |kept: &mut Vec<usize>, summed: &mut Vec<usize>, ax: usize| {
        if let Some(i) = kept.iter().position(|&k| k == ax) {
            kept.remove(i);
        } else {
            summed.pop();
        }
    };
    let candidates = |kept: &[usize], summed: &[usize]| -> Vec<usize> {
        kept.iter().copied().chain(summed.last().copied()).collect()
    };
    // The run an innermost axis starts: itself, widened by axes that continue every
    // operand's linear walk along it (innermost first).
    let run_from = |kept: &[usize], summed: &[usize], first: usize| -> (Vec<usize>, usize) {
        let (mut kept, mut summed) = (kept.to_vec(), summed.to_vec());
        take(&mut kept, &mut summed, first);
        let (mut run, mut len) = (vec![first], size(first));
        while let Some(ax) = candidates(&kept, &summed)
            .into_iter()
            .find(|&ax| (0..ops.len()).all(|o| str_of[ax][o] == str_of[first][o] * len))
        {
            take(&mut kept, &mut summed, ax);
            run.push(ax);
            len *= size(ax);
        }
        (run, len)
    };
    // Estimated cost per cell of a run: a unit-stride operand 1, a strided one 2 (constant
    // ones are scalars), plus a pass's bookkeeping spread over the run.
    let run_cost = |first: usize, len: usize| -> f64 {
        let reads: usize = str_of[first]
            .iter()
            .map(|&s| match s {
                0 => 0,
                1 => 1,
                _ => 2,
            })
            .sum();
        reads as f64 + PASS_COST / len as f64
    };
    let (run, _) = candidates(&kept, &summed)
        .into_iter()
        .map(|ax| run_from(&kept, &summed, ax))
        .min_by(|(a, la), (b, lb)| {
            run_cost(a[0], *la)
                .total_cmp(&run_cost(b[0], *lb))
                .then(b[0].cmp(&a[0]))
        })
        .unwrap_or_else(|| unreachable!("the union is not empty"));
    for &ax in &run {
        take(&mut kept, &mut summed, ax);
        inner_first.push(ax);
    }
    // The other axes outside it in sorted order: the walk keeps the blocked kernel's
    // locality (the output region an outer index touches stays small) and the summed axes'
    // ascending order.
    let mut rest: Vec<usize> = kept.into_iter().chain(summed).collect();
    rest.sort_unstable_by(|a, b| b.cmp(a));
    inner_first.extend(rest);
    // Outermost first, fusing a level into the next one in when every operand walks the
    // pair linearly.
    let mut sizes: Vec<usize> = Vec::new();
    let mut strs: Vec<Vec<usize>> = Vec::new();
    for &ax in inner_first.iter().rev() {
        let st = &str_of[ax];
        if let Some(last) = strs.last_mut() {
            if last.iter().zip(st).all(|(&l, &s)| l == s * size(ax)) {
                *last = st.clone();
                if let Some(n) = sizes.last_mut() {
                    *n *= size(ax);
                }
                continue;
            }
        }
        sizes.push(size(ax));
        strs.push(st.clone());
    }
    let nf = factors.len();
    Levels {
        fstr: (0..nf)
            .map(|k| strs.iter().map(|s| s[k]).collect())
            .collect(),
        ostr: strs.iter().map(|s| s[nf]).collect(),
        sizes,
    }
}

/// `sum over union \ out of prod_k factors_k`, as a table over `out` (a subset of the union
/// of the factors' cliques).
///
/// Walks the union in the order [`levels`] picks: an odometer over the outer levels and
/// strided loops along the innermost, where the factors that do not vary there multiply
/// once per pass. Each output cell adds its terms in the order of the sorted union, as
/// [`sum_product_blocked`] does (which remains for short runs), but a product's factors
/// associate differently (the constant ones first), and a blocked walk whose output is
/// constant over a block summed that block first: equal up to rounding.
pub(crate) fn sum_product(domain: &Domain, factors: &[&Table], out: &Clique) -> Table {
    let union = factors.iter().fold(out.clone(), |u, f| u.union(&f.clique));
    if union.is_empty() {
        return sum_product_blocked(domain, factors, out);
    }
    // Large steps as matrix products when that is cheaper (model/contract.rs).
    if let Some(t) = super::contract::contract(domain, factors, out, &union) {
        return t;
    }
    let scopes: Vec<&Clique> = factors.iter().map(|f| &f.clique).collect();
    let lv = levels(domain, &scopes, out, &union);
    if lv.sizes.last().is_none_or(|&len| len < MIN_RUN) {
        return sum_product_blocked(domain, factors, out);
    }
    Table {
        clique: out.clone(),
        values: run_kernel(factors, &lv, out.cells(domain)),
    }
}

/// `values[obase + i * so] += term(i)` for `i < len`, in order (`so` 0: one cell).
#[inline(always)]
fn add_run(values: &mut [f64], obase: usize, so: usize, len: usize, term: impl Fn(usize) -> f64) {
    match so {
        0 => {
            let mut acc = values[obase];
            for i in 0..len {
                acc += term(i);
            }
            values[obase] = acc;
        }
        1 => {
            for (i, o) in values[obase..obase + len].iter_mut().enumerate() {
                *o += term(i);
            }
        }
        _ => {
            let out = &mut values[obase..obase + (len - 1) * so + 1];
            for i in 0..len {
                out[i * so] += term(i);
            }
        }
    }
}

/// The walk of [`sum_product`] over planned levels (at least one).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
fn run_kernel(factors: &[&Table], lv: &Levels, out_cells: usize) -> Vec<f64> {
    let mut values = vec![0.0; out_cells];
    let nl = lv.sizes.len();
    let inner = nl - 1;
    let len = lv.sizes[inner];
    let nf = factors.len();
    let istr: Vec<usize> = lv.fstr.iter().map(|s| s[inner]).collect();
    let so = lv.ostr[inner];
    // Factors constant along the run multiply once per pass (`q`); the others are read
    // along it, fused into one loop with the output's update when there are one or two.
    let (fixed, vary): (Vec<usize>, Vec<usize>) = (0..nf).partition(|&k| istr[k] == 0);
    let mut idx = vec![0usize; inner];
    let mut fbase = vec![0usize; nf];
    let mut obase = 0usize;
    let mut tmp = vec![0.0; len];
    loop {
        let mut q = 1.0;
        for &k in &fixed {
            q *= factors[k].values[fbase[k]];
        }
        let read = |k: usize| -> (&[f64], usize) {
            let (b, s) = (fbase[k], istr[k]);
            (&factors[k].values[b..b + (len - 1) * s + 1], s)
        };
        match vary.as_slice() {
            [] => add_run(&mut values, obase, so, len, |_| q),
            &[k] => {
                let (v, s) = read(k);
                if s == 1 {
                    add_run(&mut values, obase, so, len, |i| q * v[i]);
                } else {
                    add_run(&mut values, obase, so, len, |i| q * v[i * s]);
                }
            }
            &[k1, k2] => {
                let ((v1, s1), (v2, s2)) = (read(k1), read(k2));
                add_run(&mut values, obase, so, len, |i| q * v1[i * s1] * v2[i * s2]);
            }
            _ => {
                tmp.fill(q);
                for &k in &vary {
                    let (v, s) = read(k);
                    if s == 1 {
                        for (t, &x) in tmp.iter_mut().zip(v) {
                            *t *= x;
                        }
                    } else {
                        for (i, t) in tmp.iter_mut().enumerate() {
                            *t *= v[i * s];
                        }
                    }
                }
                add_run(&mut values, obase, so, len, |i| tmp[i]);
            }
        }
        // Advance the odometer over the outer levels (last one fastest).
        let mut p = inner;
        loop {
            if p == 0 {
                return values;
            }
            p -= 1;
            idx[p] += 1;
            for (b, s) in fbase.iter_mut().zip(&lv.fstr) {
                *b += s[p];
            }
            obase += lv.ostr[p];
            if idx[p] < lv.sizes[p] {
                break;
            }
            let back = idx[p];
            idx[p] = 0;
            for (b, s) in fbase.iter_mut().zip(&lv.fstr) {
                *b -= back * s[p];
            }
            obase -= back * lv.ostr[p];
        }
    }
}

/// `sum over union \ out of prod_k factors_k` walking the sorted union: its trailing
/// attributes form an inner block of at least [`BLOCK_CELLS`] cells (or all of it) that
/// every operand reads by offsets computed once; an odometer walks the other attributes.
/// Long inner loops keep the walk's bookkeeping off the hot path even when every attribute
/// has two or three values; [`sum_product`] uses it when its own runs would be short.
///
/// Compiled once per instruction set and dispatched at run time like the BP walks
/// (`layout::dispatch`): the same operations in the same order, so the same results.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
fn sum_product_blocked(domain: &Domain, factors: &[&Table], out: &Clique) -> Table {
    let union = factors.iter().fold(out.clone(), |u, f| u.union(&f.clique));
    let attrs = union.attrs();
    let n = attrs.len();
    let mut values = vec![0.0; out.cells(domain)];
    if n == 0 {
        values[0] = factors.iter().map(|f| f.values[0]).product();
        return Table {
            clique: out.clone(),
            values,
        };
    }
    // Stride of every union axis in each operand (0 where the operand lacks it).
    let stride_in = |c: &Clique, a: usize| stride(domain, c, a);
    let fstr: Vec<Vec<usize>> = factors
        .iter()
        .map(|f| attrs.iter().map(|&a| stride_in(&f.clique, a)).collect())
        .collect();
    let ostr: Vec<usize> = attrs.iter().map(|&a| stride_in(out, a)).collect();
    // The inner block: trailing union axes `first..n`.
    let mut first = n;
    let mut len = 1usize;
    while first > 0 && len < BLOCK_CELLS {
        first -= 1;
        len *= domain.size(attrs[first]);
    }
    let access = |str: &[usize]| -> Access {
        if str[first..].iter().all(|&s| s == 0) {
            return Access::Scalar;
        }
        // Offsets of the block's cells (row-major over the block's axes).
        let mut off = vec![0usize; len];
        let mut cells = 1usize;
        for j in (first..n).rev() {
            let size = domain.size(attrs[j]);
            for v in 1..size {
                for i in 0..cells {
                    off[v * cells + i] = off[i] + v * str[j];
                }
            }
            cells *= size;
        }
        if off.iter().enumerate().all(|(i, &o)| o == i) {
            Access::Contiguous
        } else {
            Access::Gather(off)
        }
    };
    let faccess: Vec<Access> = fstr.iter().map(|s| access(s)).collect();
    let oaccess = access(&ostr);
    let outer: Vec<usize> = (0..first).collect();
    let mut idx = vec![0usize; outer.len()];
    let mut fbase = vec![0usize; factors.len()];
    let mut obase = 0usize;
    let mut tmp = vec![1.0; len];
    loop {
        // tmp = product of the factors over the block.
        tmp.fill(1.0);
        for (k, f) in factors.iter().enumerate() {
            let b = fbase[k];
            let v = &f.values;
            match &faccess[k] {
                Access::Scalar => {
                    let x = v[b];
                    tmp.iter_mut().for_each(|t| *t *= x);
                }
                Access::Contiguous => {
                    for (t, &x) in tmp.iter_mut().zip(&v[b..b + len]) {
                        *t *= x;
                    }
                }
                Access::Gather(off) => {
                    for (t, &o) in tmp.iter_mut().zip(off) {
                        *t *= v[b + o];
                    }
                }
            }
        }
        match &oaccess {
            Access::Scalar => values[obase] += tmp.iter().sum::<f64>(),
            Access::Contiguous => {
                for (o, &t) in values[obase..obase + len].iter_mut().zip(&tmp) {
                    *o += t;
                }
            }
            Access::Gather(off) => {
                for (&o, &t) in off.iter().zip(&tmp) {
                    values[obase + o] += t;
                }
            }
        }
        // Advance the odometer over the outer axes (last one fastest).
        let mut p = outer.len();
        loop {
            if p == 0 {
                return Table {
                    clique: out.clone(),
                    values,
                };
            }
            p -= 1;
            let j = outer[p];
            idx[p] += 1;
            for k in 0..factors.len() {
                fbase[k] += fstr[k][j];
            }
            obase += ostr[j];
            if idx[p] < domain.size(attrs[j]) {
                break;
            }
            let back = idx[p];
            idx[p] = 0;
            for k in 0..factors.len() {
                fbase[k] -= back * fstr[k][j];
            }
            obase -= back * ostr[j];
        }
    }
}

/// Eliminations walking fewer cells than this keep the plain min-weight order.
const LOOKAHEAD_CELLS: f64 = 65_536.0;

/// Cells of `c`, as a float (a cost, never an allocation: no overflow).
pub(super) fn float_cells(domain: &Domain, c: &Clique) -> f64 {
    c.attrs()
        .iter()
        .fold(1f64, |acc, &a| acc * domain.size(a) as f64)
}

/// Cells of the union of `cliques`, as a float (a cost, never an allocation).
fn union_cells(domain: &Domain, cliques: &[&Clique]) -> f64 {
    float_cells(
        domain,
        &cliques.iter().fold(Clique::empty(), |u, c| u.union(c)),
    )
}

/// One elimination step: the variable `v` goes, with every attribute only the factors
/// holding `v` mention and `keep` does not need. Returns the step's output scope, the
/// indices of the factors it consumes, and its cost (cells walked).
fn step(domain: &Domain, scopes: &[Clique], keep: &Clique, v: usize) -> (Clique, Vec<usize>, f64) {
    let with: Vec<usize> = (0..scopes.len())
        .filter(|&i| scopes[i].contains(v))
        .collect();
    let union = with
        .iter()
        .fold(Clique::empty(), |u, &i| u.union(&scopes[i]));
    let rest = (0..scopes.len())
        .filter(|i| !with.contains(i))
        .fold(keep.clone(), |u, i| u.union(&scopes[i]));
    let cost = union_cells(domain, &[&union]);
    (union.intersection(&rest), with, cost)
}

/// The min-weight choice: the variable whose factors' union has the fewest cells.
fn min_weight(domain: &Domain, scopes: &[Clique], vars: &Clique) -> usize {
    let weight = |v: usize| {
        let with: Vec<&Clique> = scopes.iter().filter(|c| c.contains(v)).collect();
        union_cells(domain, &with)
    };
    vars.attrs()
        .iter()
        .copied()
        .min_by(|&a, &b| weight(a).total_cmp(&weight(b)).then(a.cmp(&b)))
        .unwrap_or_else(|| unreachable!("vars is not empty"))
}

/// The variables to eliminate, step by step, and the cells walked in total: `first` (if
/// any) first, then min-weight choices.
fn simulate(
    domain: &Domain,
    mut scopes: Vec<Clique>,
    keep: &Clique,
    first: Option<usize>,
) -> (Vec<usize>, f64) {
    let mut order = Vec::new();
    let mut cost = 0.0;
    let mut first = first;
    loop {
        let all = scopes.iter().fold(Clique::empty(), |u, c| u.union(c));
        let vars = all.difference(keep);
        if vars.is_empty() {
            let refs: Vec<&Clique> = scopes.iter().chain([keep]).collect();
            return (order, cost + union_cells(domain, &refs));
        }
        let v = first
            .take()
            .unwrap_or_else(|| min_weight(domain, &scopes, &vars));
        let (out, with, c) = step(domain, &scopes, keep, v);
        cost += c;
        order.push(v);
        let mut next: Vec<Clique> = (0..scopes.len())
            .filter(|i| !with.contains(i))
            .map(|i| scopes[i].clone())
            .collect();
        next.push(out);
        scopes = next;
    }
}

/// The steps of [`eliminate`] on factors with these scopes, in order: each step's inputs
/// (indices into the factor list as it stands before the step, ascending; the step removes
/// them and appends its output) and its output scope. The last step keeps `keep` and takes
/// every factor left. Planned on the scopes alone, so callers that know which tables the
/// scopes belong to can recognise a step another elimination already did
/// (`model/spanning.rs`).
pub(crate) fn elimination_steps(
    domain: &Domain,
    mut scopes: Vec<Clique>,
    keep: &Clique,
) -> Vec<(Vec<usize>, Clique)> {
    let all = scopes.iter().fold(Clique::empty(), |u, c| u.union(c));
    let vars = all.difference(keep);
    let (mut order, mut best) = simulate(domain, scopes.clone(), keep, None);
    // Small eliminations are not worth planning twice.
    if vars.len() > 1 && best > LOOKAHEAD_CELLS {
        for &v in vars.attrs() {
            let (o, c) = simulate(domain, scopes.clone(), keep, Some(v));
            if c < best {
                (order, best) = (o, c);
            }
        }
    }
    let mut steps = Vec::with_capacity(order.len() + 1);
    for v in order {
        let (out, with, _) = step(domain, &scopes, keep, v);
        scopes = (0..scopes.len())
            .filter(|i| !with.contains(i))
            .map(|i| scopes[i].clone())
            .chain([out.clone()])
            .collect();
        steps.push((with, out));
    }
    steps.push(((0..scopes.len()).collect(), keep.clone()));
    steps
}

/// Sums every attribute outside `keep` out of the product of `factors` (whose cliques
/// together cover `keep`). The order is min-weight greedy after the first variable, and
/// the first is the one whose greedy completion walks the fewest cells in total (a
/// one-step look-ahead: plain min-weight can pick a cheap first step that makes every
/// later one expensive). Planned on the scopes alone ([`elimination_steps`]), then
/// executed. Factors may be borrowed (messages shared by many queries are never copied).
pub(crate) fn eliminate(domain: &Domain, mut factors: Vec<Cow<'_, Table>>, keep: &Clique) -> Table {
    let scopes: Vec<Clique> = factors.iter().map(|f| f.clique.clone()).collect();
    for (with, out) in elimination_steps(domain, scopes, keep) {
        let mut taken = Vec::with_capacity(with.len());
        let mut others = Vec::with_capacity(factors.len() - with.len());
        for (i, f) in factors.into_iter().enumerate() {
            if with.contains(&i) {
                taken.push(f);
            } else {
                others.push(f);
            }
        }
        let refs: Vec<&Table> = taken.iter().map(|t| &**t).collect();
        let t = sum_product(domain, &refs, &out);
        factors = others;
        factors.push(Cow::Owned(t));
    }
    // The last step took every factor, so its output is all that is left.
    match factors.pop() {
        Some(t) => t.into_owned(),
        None => unreachable!("the last step keeps `keep`"),
    }
}

/// A random sum-product step for tests: a domain of `attrs` attributes with sizes in
/// `sizes`, tables (uniform values) over cliques of attributes each kept with probability
/// `keep`, and an output clique inside their union.
#[cfg(test)]
pub(crate) fn random_step(
    rng: &mut rand_chacha::ChaCha8Rng,
    attrs: std::ops::Range<usize>,
    sizes: std::ops::Range<usize>,
    keep: f64,
    tables: std::ops::Range<usize>,
) -> (Domain, Vec<Table>, Clique) {
    use rand::Rng;
    let n = rng.gen_range(attrs);
    let d = Domain::from_sizes((0..n).map(|_| rng.gen_range(sizes.clone())).collect());
    let pick = |rng: &mut rand_chacha::ChaCha8Rng| {
        Clique::new((0..n).filter(|_| rng.gen_bool(keep)).collect::<Vec<_>>())
    };
    let tables: Vec<Table> = (0..rng.gen_range(tables))
        .map(|_| {
            let clique = pick(rng);
            let values = (0..clique.cells(&d))
                .map(|_| rng.gen_range(0.0..1.0))
                .collect();
            Table { clique, values }
        })
        .collect();
    let union = tables
        .iter()
        .fold(Clique::empty(), |u, t| u.union(&t.clique));
    let out = union.intersection(&pick(rng));
    (d, tables, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run kernel and the blocked one agree with a brute-force sum on random factor
    /// sets (sizes 2..=17, so runs are long, short, strided and fused).
    #[test]
    fn run_kernel_matches_brute_force_and_blocked_walk() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut runs = 0;
        for _ in 0..300 {
            let (d, tables, out) = random_step(&mut rng, 2..7, 2..18, 0.5, 1..5);
            let n = d.len();
            let sizes: Vec<usize> = (0..n).map(|a| d.size(a)).collect();
            let union = tables
                .iter()
                .fold(Clique::empty(), |u, t| u.union(&t.clique));
            let refs: Vec<&Table> = tables.iter().collect();
            let got = sum_product(&d, &refs, &out);
            let blocked = sum_product_blocked(&d, &refs, &out);
            let scopes: Vec<&Clique> = tables.iter().map(|t| &t.clique).collect();
            if !union.is_empty() && levels(&d, &scopes, &out, &union).sizes.last() >= Some(&MIN_RUN)
            {
                runs += 1;
            }
            let mut want = vec![0.0; out.cells(&d)];
            let ucells = union.cells(&d);
            for cell in 0..ucells {
                // Row-major coordinates of `cell` over the union.
                let mut x = vec![0; n];
                let mut r = cell;
                for &a in union.attrs().iter().rev() {
                    x[a] = r % sizes[a];
                    r /= sizes[a];
                }
                let at = |c: &Clique| c.attrs().iter().fold(0, |i, &a| i * sizes[a] + x[a]);
                let p: f64 = tables.iter().map(|t| t.values[at(&t.clique)]).product();
                want[at(&out)] += p;
            }
            for ((g, b), w) in got.values.iter().zip(&blocked.values).zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                    "{out:?}: {g} vs {w}"
                );
                assert!(
                    (g - b).abs() <= 1e-12 * w.abs().max(1.0),
                    "{out:?}: {g} vs {b}"
                );
            }
        }
        assert!(runs > 100, "only {runs} run-kernel walks");
    }

    #[test]
    fn sum_product_matches_brute_force() {
        let d = Domain::from_sizes(vec![2, 3, 4, 2]);
        let a = Table {
            clique: Clique::new([0, 2]),
            values: (0..8).map(|i| 1.0 + i as f64).collect(),
        };
        let b = Table {
            clique: Clique::new([1, 2, 3]),
            values: (0..24).map(|i| 0.5 + (i % 5) as f64).collect(),
        };
        for out in [
            Clique::new([0]),
            Clique::new([1, 3]),
            Clique::new([0, 1, 2, 3]),
            Clique::empty(),
        ] {
            let got = sum_product(&d, &[&a, &b], &out);
            let mut want = vec![0.0; out.cells(&d)];
            for x0 in 0..2 {
                for x1 in 0..3 {
                    for x2 in 0..4 {
                        for x3 in 0..2 {
                            let x = [x0, x1, x2, x3];
                            let v = a.values[x0 * 4 + x2] * b.values[x1 * 8 + x2 * 2 + x3];
                            let o = out.attrs().iter().fold(0, |i, &at| i * d.size(at) + x[at]);
                            want[o] += v;
                        }
                    }
                }
            }
            for (g, w) in got.values.iter().zip(&want) {
                assert!((g - w).abs() < 1e-9, "{out:?}");
            }
            let e = eliminate(&d, vec![Cow::Borrowed(&a), Cow::Borrowed(&b)], &out);
            for (g, w) in e.values.iter().zip(&want) {
                assert!((g - w).abs() < 1e-9, "eliminate {out:?}");
            }
        }
    }
}
