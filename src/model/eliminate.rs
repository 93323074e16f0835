//! Variable elimination over small tables of probabilities, with a fused sum-product
//! kernel: `out(O) = sum over the other attributes of prod_k f_k`, computed by one walk over
//! the union of the factors' attributes without materialising the product.
//!
//! Model queries that no tree clique contains reduce each clique of the connecting
//! subtree to the attributes that matter, then eliminate everything but the query
//! greedily (min-weight: the variable whose factors span the fewest cells first).

use crate::marginal::{Clique, Domain};

/// A table of non-negative numbers over a clique (row-major).
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub(crate) clique: Clique,
    pub(crate) values: Vec<f64>,
}

/// `sum over union \ out of prod_k factors_k`, as a table over `out` (a subset of the union
/// of the factors' cliques).
pub(crate) fn sum_product(domain: &Domain, factors: &[&Table], out: &Clique) -> Table {
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
    let stride_in = |c: &Clique, a: usize| -> usize {
        match c.axis_of(a) {
            Some(ax) => c.attrs()[ax + 1..]
                .iter()
                .map(|&b| domain.size(b))
                .product(),
            None => 0,
        }
    };
    let fstr: Vec<Vec<usize>> = factors
        .iter()
        .map(|f| attrs.iter().map(|&a| stride_in(&f.clique, a)).collect())
        .collect();
    let ostr: Vec<usize> = attrs.iter().map(|&a| stride_in(out, a)).collect();
    // Innermost axis: the largest, so the inner loop is long.
    let inner = (0..n)
        .max_by_key(|&j| (domain.size(attrs[j]), j))
        .unwrap_or(0);
    let len = domain.size(attrs[inner]);
    let outer: Vec<usize> = (0..n).filter(|&j| j != inner).collect();
    let mut idx = vec![0usize; outer.len()];
    let mut fbase = vec![0usize; factors.len()];
    let mut obase = 0usize;
    let mut tmp = vec![0.0; len];
    let os = ostr[inner];
    loop {
        // tmp = product of the factors along the inner axis.
        for (k, f) in factors.iter().enumerate() {
            let (b, s) = (fbase[k], fstr[k][inner]);
            let v = &f.values;
            if k == 0 {
                let mut i = 0;
                while i < len {
                    tmp[i] = v[b + i * s];
                    i += 1;
                }
            } else {
                let mut i = 0;
                while i < len {
                    tmp[i] *= v[b + i * s];
                    i += 1;
                }
            }
        }
        if factors.is_empty() {
            tmp.fill(1.0);
        }
        if os == 0 {
            values[obase] += tmp.iter().sum::<f64>();
        } else {
            let mut i = 0;
            while i < len {
                values[obase + i * os] += tmp[i];
                i += 1;
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

/// Sums every attribute outside `keep` out of the product of `factors` (whose cliques
/// together cover `keep`), eliminating greedily by min-weight.
pub(crate) fn eliminate(domain: &Domain, mut factors: Vec<Table>, keep: &Clique) -> Table {
    loop {
        let all = factors
            .iter()
            .fold(Clique::empty(), |u, f| u.union(&f.clique));
        let vars = all.difference(keep);
        if vars.is_empty() {
            let refs: Vec<&Table> = factors.iter().collect();
            return sum_product(domain, &refs, keep);
        }
        // The variable whose factors' union has the fewest cells.
        let weight = |v: usize| {
            factors
                .iter()
                .filter(|f| f.clique.contains(v))
                .fold(Clique::empty(), |u, f| u.union(&f.clique))
                .attrs()
                .iter()
                .fold(1f64, |acc, &a| acc * domain.size(a) as f64)
        };
        let v = vars
            .attrs()
            .iter()
            .copied()
            .min_by(|&a, &b| weight(a).total_cmp(&weight(b)).then(a.cmp(&b)))
            .unwrap_or_else(|| unreachable!("vars is not empty"));
        let (with, without): (Vec<Table>, Vec<Table>) =
            factors.into_iter().partition(|f| f.clique.contains(v));
        let union = with.iter().fold(Clique::empty(), |u, f| u.union(&f.clique));
        // Everything only these factors mention and the query does not need goes too.
        let rest = without.iter().fold(keep.clone(), |u, f| u.union(&f.clique));
        let out = union.intersection(&rest);
        let refs: Vec<&Table> = with.iter().collect();
        let t = sum_product(domain, &refs, &out);
        factors = without;
        factors.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let e = eliminate(&d, vec![a.clone(), b.clone()], &out);
            for (g, w) in e.values.iter().zip(&want) {
                assert!((g - w).abs() < 1e-9, "eliminate {out:?}");
            }
        }
    }
}
