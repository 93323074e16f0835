//! Helpers shared by the model's integration tests: exact and noisy measurements of the
//! benchmark sets, MST-like spanning trees, and fidelity measures.
#![allow(dead_code)]

use dpsynth::data::EncodedTable;
use dpsynth::marginal::{all_k_way, count, Clique, Domain, MarginalTable};
use dpsynth::model::{GraphicalModel, Measurement};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Maximum spanning tree of the attributes by empirical mutual information (what MST
/// would select without noise), as sorted pairs.
pub fn mi_spanning_tree(table: &EncodedTable, domain: &Domain) -> Vec<Clique> {
    let n = domain.len();
    let total = table.n_rows() as f64;
    let mut edges: Vec<(f64, Clique)> = all_k_way(n, 2)
        .into_iter()
        .map(|c| {
            let joint = count(table, domain, &c);
            let (a, b) = (c.attrs()[0], c.attrs()[1]);
            let pa = joint.project(&Clique::new([a]));
            let pb = joint.project(&Clique::new([b]));
            let sb = domain.size(b);
            let mut mi = 0.0;
            for (i, &v) in joint.values.iter().enumerate() {
                if v > 0.0 {
                    let (x, y) = (i / sb, i % sb);
                    mi += v / total * (v * total / (pa.values[x] * pb.values[y])).ln();
                }
            }
            (mi, c)
        })
        .collect();
    edges.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut comp: Vec<usize> = (0..n).collect();
    let mut out = Vec::new();
    for (_, c) in edges {
        let (a, b) = (comp[c.attrs()[0]], comp[c.attrs()[1]]);
        if a != b {
            comp.iter_mut().filter(|x| **x == b).for_each(|x| *x = a);
            out.push(c);
        }
    }
    out
}

pub fn exact(
    table: &EncodedTable,
    domain: &Domain,
    cliques: &[Clique],
    sigma: f64,
) -> Vec<Measurement> {
    cliques
        .iter()
        .map(|c| Measurement::new(c.clone(), count(table, domain, c).values, sigma))
        .collect()
}

pub fn one_ways(domain: &Domain) -> Vec<Clique> {
    (0..domain.len()).map(|a| Clique::new([a])).collect()
}

/// Worst normalised L1 distance between a model and its measurements.
pub fn worst_l1(model: &GraphicalModel, ms: &[Measurement]) -> f64 {
    ms.iter()
        .map(|m| {
            let p = model.project(&m.clique);
            let (tp, tm) = (p.total(), m.values.iter().sum::<f64>());
            p.values
                .iter()
                .zip(&m.values)
                .map(|(a, b)| (a / tp - b / tm).abs())
                .sum::<f64>()
        })
        .fold(0.0, f64::max)
}

/// Standard normal by Box-Muller (test-only noise; never a release path).
pub fn gauss(rng: &mut ChaCha20Rng) -> f64 {
    let u: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
    let v: f64 = rng.gen();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

pub fn noisy(
    table: &EncodedTable,
    domain: &Domain,
    cliques: &[Clique],
    sigma: f64,
    seed: u64,
) -> Vec<Measurement> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    exact(table, domain, cliques, sigma)
        .into_iter()
        .map(|mut m| {
            m.values
                .iter_mut()
                .for_each(|v| *v += sigma * gauss(&mut rng));
            m
        })
        .collect()
}

/// L1 distance between two tables over the same clique, each normalised to sum to one.
pub fn l1(a: &MarginalTable, b: &MarginalTable) -> f64 {
    a.l1_normalized(b)
}

/// Empirical marginal of column-major codes over `clique`.
pub fn empirical(cols: &[Vec<u32>], domain: &Domain, clique: &Clique) -> MarginalTable {
    let mut t = MarginalTable::zeros(clique.clone(), domain);
    let rows = cols.first().map_or(0, |c| c.len());
    let mut idx = vec![0usize; rows];
    for &a in clique.attrs() {
        for (i, &v) in idx.iter_mut().zip(&cols[a]) {
            *i = *i * domain.size(a) + v as usize;
        }
    }
    for i in idx {
        t.values[i] += 1.0;
    }
    t
}
