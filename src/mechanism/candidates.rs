//! AIM's candidates at each round, made to scale with the table's width (issue #16, item 3).
//!
//! Two steps, both functions of the public workload and of earlier DP outputs (the measured
//! cliques) only, never of the data (proofs/aim.md, step 3):
//! - [`open_candidates`]: with a large workload (more than `AimOptions::grow_above`
//!   candidates, e.g. every 3-way marginal of 60 columns: 36,050 candidates), a k-way
//!   candidate becomes selectable once one of its (k-1)-way faces lies inside a measured
//!   clique (Apriori-style growth: a triple once one of its pairs is measured). Every one-
//!   and two-way candidate is always open (the one-ways are measured first).
//! - [`fitting_candidates`]: AIM's size filter, exactly as before (the triangulation the
//!   refit builds, `model_size_cells`), computed per connected component of the measured
//!   cliques' graph and one heuristic at a time, stopping at the first that fits.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use crate::marginal::{Clique, Domain};
use crate::model::{heuristic_size, HEURISTIC_COUNT};

/// Indices of the candidates open this round. With `grow` false, all of them; otherwise a
/// candidate of two or more attributes is open when removing one of its attributes leaves a
/// subset of some measured clique. Ascending.
pub(crate) fn open_candidates(cand_list: &[Clique], measured: &[Clique], grow: bool) -> Vec<usize> {
    if !grow {
        return (0..cand_list.len()).collect();
    }
    let longest = cand_list.iter().map(Clique::len).max().unwrap_or(0);
    // Every face of a measured clique that a candidate could ask for (sizes below `longest`).
    let mut faces: BTreeSet<Clique> = BTreeSet::new();
    for m in measured {
        for k in 1..=m.len().min(longest.saturating_sub(1)) {
            faces.extend(m.subsets_of_size(k));
        }
    }
    (0..cand_list.len())
        .filter(|&i| {
            let c = cand_list[i].attrs();
            c.len() <= 1
                || c.iter()
                    .any(|&a| faces.contains(&Clique::new(c.iter().copied().filter(|&b| b != a))))
        })
        .collect()
}

/// The measured cliques' graph split into connected components, with each component's
/// triangulation size under every heuristic.
struct Components {
    /// Component (its smallest attribute) of every attribute.
    comp: Vec<usize>,
    /// Per component: its attributes (ascending) and the indices of its cliques.
    members: BTreeMap<usize, (Vec<usize>, Vec<usize>)>,
    /// Per component: cells of its triangulation under each heuristic.
    sizes: BTreeMap<usize, Vec<u128>>,
    /// Per heuristic: the whole graph's cells (the sum over components).
    total: Vec<u128>,
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Cells of the triangulation heuristic `h` builds for `cliques` on the attributes `attrs`
/// alone (ascending, so ties between attributes break the same way as on the whole domain).
fn part_size(domain: &Domain, attrs: &[usize], cliques: &[&Clique], h: usize) -> u128 {
    if let ([a], true) = (attrs, cliques.iter().all(|c| c.len() <= 1)) {
        return domain.size(*a) as u128;
    }
    let local: BTreeMap<usize, usize> = attrs.iter().enumerate().map(|(i, &a)| (a, i)).collect();
    let sub = Domain::from_sizes(attrs.iter().map(|&a| domain.size(a)).collect());
    let mapped: Vec<Clique> = cliques
        .iter()
        .map(|c| Clique::new(c.attrs().iter().map(|a| local[a])))
        .collect();
    heuristic_size(&sub, &mapped, h) as u128
}

impl Components {
    fn new(domain: &Domain, measured: &[Clique]) -> Self {
        let n = domain.len();
        let mut parent: Vec<usize> = (0..n).collect();
        for m in measured {
            for w in m.attrs().windows(2) {
                let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
                // The smaller attribute stays the root, so a component is named by its minimum.
                parent[a.max(b)] = a.min(b);
            }
        }
        let comp: Vec<usize> = (0..n).map(|a| find(&mut parent, a)).collect();
        let mut members: BTreeMap<usize, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for (a, &r) in comp.iter().enumerate() {
            members.entry(r).or_default().0.push(a);
        }
        for (i, m) in measured.iter().enumerate() {
            if let Some(&a) = m.attrs().first() {
                if let Some(e) = members.get_mut(&comp[a]) {
                    e.1.push(i);
                }
            }
        }
        let sizes: BTreeMap<usize, Vec<u128>> = members
            .par_iter()
            .map(|(&r, (attrs, idx))| {
                let cl: Vec<&Clique> = idx.iter().map(|&i| &measured[i]).collect();
                let s = (0..HEURISTIC_COUNT)
                    .map(|h| part_size(domain, attrs, &cl, h))
                    .collect();
                (r, s)
            })
            .collect();
        let total = (0..HEURISTIC_COUNT)
            .map(|h| sizes.values().map(|s| s[h]).sum())
            .collect();
        Components {
            comp,
            members,
            sizes,
            total,
        }
    }
}

/// Indices (ascending, a subset of `open`) of the candidates whose measurement keeps the
/// junction tree within `size_limit` cells. The size is the estimator's own:
/// `model_size_cells` of the measured cliques plus the candidate, the smallest of the
/// triangulation heuristics' totals, so a candidate allowed here never fails the refit.
///
/// Computed exactly, but cheaply: a greedy elimination never links two connected components,
/// and on each component it makes the choices it would make on that component alone, so a
/// heuristic's total is the sum of its totals on the components. A candidate changes only
/// the components it touches (merged into one with it), and it fits as soon as one
/// heuristic's total does. Candidates that add the same pairs to the graph share one
/// computation; one that adds none keeps the current size.
pub(crate) fn fitting_candidates(
    domain: &Domain,
    measured: &[Clique],
    cand_list: &[Clique],
    open: &[usize],
    size_limit: usize,
) -> Vec<usize> {
    let n = domain.len();
    // The graph `model_size_cells` triangulates (cliques inside the domain).
    let measured: Vec<Clique> = measured
        .iter()
        .filter(|m| m.attrs().iter().all(|&a| a < n))
        .cloned()
        .collect();
    let mut edge = vec![false; n * n];
    for m in &measured {
        for &a in m.attrs() {
            for &b in m.attrs() {
                edge[a * n + b] = true;
            }
        }
    }
    let comps = Components::new(domain, &measured);
    let limit = size_limit as u128;
    // What `total_cells` returns: the sum, saturating at usize::MAX.
    let fits = |s: u128| s.min(usize::MAX as u128) <= limit;
    let current_fits = fits(comps.total.iter().copied().min().unwrap_or(0));
    // The pairs a candidate adds; a candidate outside the domain is dropped by the refit's
    // triangulation, so it keeps the current size (no pairs).
    let missing = |c: &Clique| -> Vec<(usize, usize)> {
        let at = c.attrs();
        if at.iter().any(|&a| a >= n) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, &a) in at.iter().enumerate() {
            for &b in &at[i + 1..] {
                if !edge[a * n + b] {
                    out.push((a, b));
                }
            }
        }
        out
    };
    let keys: Vec<(usize, Vec<(usize, usize)>)> =
        open.iter().map(|&i| (i, missing(&cand_list[i]))).collect();
    let mut distinct: BTreeMap<&[(usize, usize)], usize> = BTreeMap::new();
    for (i, k) in &keys {
        if !k.is_empty() {
            distinct.entry(k.as_slice()).or_insert(*i);
        }
    }
    let reps: Vec<(&[(usize, usize)], usize)> = distinct.into_iter().collect();
    let verdicts: BTreeMap<&[(usize, usize)], bool> = reps
        .into_par_iter()
        .map(|(k, i)| {
            let c = &cand_list[i];
            let touched: BTreeSet<usize> = c.attrs().iter().map(|&a| comps.comp[a]).collect();
            let mut attrs: Vec<usize> = Vec::new();
            let mut cliques: Vec<&Clique> = vec![c];
            for r in &touched {
                let (at, idx) = &comps.members[r];
                attrs.extend(at);
                cliques.extend(idx.iter().map(|&j| &measured[j]));
            }
            attrs.sort_unstable();
            let ok = (0..HEURISTIC_COUNT).any(|h| {
                let before: u128 = touched.iter().map(|r| comps.sizes[r][h]).sum();
                fits(comps.total[h] - before + part_size(domain, &attrs, &cliques, h))
            });
            (k, ok)
        })
        .collect();
    keys.iter()
        .filter(|(_, k)| {
            if k.is_empty() {
                current_fits
            } else {
                verdicts[k.as_slice()]
            }
        })
        .map(|(i, _)| *i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::aim::Workload;
    use crate::model::model_size_cells;
    use rand::{Rng, SeedableRng};

    /// The filter allows exactly the candidates that triangulating each one with the
    /// measured cliques (the refit's own size) allows, on graphs from empty to connected.
    #[test]
    fn fitting_candidates_match_one_triangulation_per_candidate() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..40 {
            let d = rng.gen_range(4..12);
            let sizes: Vec<usize> = (0..d).map(|_| rng.gen_range(2..9)).collect();
            let domain = Domain::from_sizes(sizes);
            let cands: Vec<Clique> = Workload::all_k_way(d, 3).candidates().into_keys().collect();
            let mut measured: Vec<Clique> = (0..d).map(|a| Clique::new([a])).collect();
            for _ in 0..rng.gen_range(0..2 * d) {
                measured.push(cands[rng.gen_range(0..cands.len())].clone());
            }
            let naive: Vec<usize> = cands
                .iter()
                .map(|c| {
                    let mut cl = measured.clone();
                    cl.push(c.clone());
                    model_size_cells(&domain, &cl)
                })
                .collect();
            let all: Vec<usize> = (0..cands.len()).collect();
            let some: Vec<usize> = (0..cands.len()).filter(|i| i % 3 != 1).collect();
            let mut limits: Vec<usize> = naive.clone();
            limits.push(0);
            for limit in limits {
                for open in [&all, &some] {
                    let want: Vec<usize> = open
                        .iter()
                        .copied()
                        .filter(|&i| naive[i] <= limit)
                        .collect();
                    assert_eq!(
                        fitting_candidates(&domain, &measured, &cands, open, limit),
                        want
                    );
                }
            }
        }
    }

    #[test]
    fn triples_open_once_one_of_their_pairs_is_measured() {
        let cands: Vec<Clique> = Workload::all_k_way(5, 3).candidates().into_keys().collect();
        let ones: Vec<Clique> = (0..5).map(|a| Clique::new([a])).collect();
        assert_eq!(open_candidates(&cands, &ones, false).len(), cands.len());
        let open = |measured: &[Clique]| -> Vec<Clique> {
            open_candidates(&cands, measured, true)
                .into_iter()
                .map(|i| cands[i].clone())
                .collect()
        };
        // One-ways only: every one- and two-way candidate, no triple.
        assert_eq!(open(&ones).len(), 5 + 10);
        // With {0, 1} measured: the three triples containing it.
        let mut m = ones.clone();
        m.push(Clique::new([0, 1]));
        let triples: Vec<Clique> = open(&m).into_iter().filter(|c| c.len() == 3).collect();
        assert_eq!(
            triples,
            vec![
                Clique::new([0, 1, 2]),
                Clique::new([0, 1, 3]),
                Clique::new([0, 1, 4])
            ]
        );
        // A measured triple opens the triples that share one of its pairs.
        let mut m = ones;
        m.push(Clique::new([0, 1, 2]));
        assert_eq!(open(&m).len(), 5 + 10 + 1 + 3 * 2);
    }
}
