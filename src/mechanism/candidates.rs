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
//!   cliques' graph and one heuristic at a time, stopping at the first that fits; the sizes
//!   it computes are kept for the next round ([`SizeMemo`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// A subgraph of the measured cliques' graph: its attributes (ascending), `u64::MAX`, then
/// its edges as `a * n + b` (`a < b`, ascending). [`part_size`] is a function of it alone:
/// the heuristics read only the adjacency and the attributes' sizes (fixed for a run).
type GraphKey = Vec<u64>;

/// Sizes per heuristic ([`part_size`]; `None`: not computed, the filter stopped at an
/// earlier heuristic).
type Sizes = [Option<u128>; HEURISTIC_COUNT];

/// The triangulation sizes one round of the filter computed, by subgraph, for the next.
///
/// Verdicts cannot be kept (the size limit grows with the budget spent, and a candidate
/// that fits can stop fitting when the graph grows), but a size is a function of its
/// subgraph alone, so a round whose measurement added no pair to the graph (9 of the 57
/// multi-attribute rounds of today's NIST epsilon 3 release) finds every size it needs
/// here, and a component no new pair touched keeps its own. Only the last round's entries
/// are kept: a subgraph that a round did not ask for is not asked for again once the graph
/// has grown past it.
#[derive(Default)]
pub(crate) struct SizeMemo {
    sizes: HashMap<GraphKey, Sizes>,
}

/// The key of the subgraph on `attrs` (ascending) whose edges are `edges` (any order).
fn graph_key(attrs: &[usize], mut edges: Vec<u64>) -> GraphKey {
    edges.sort_unstable();
    let mut key: GraphKey = Vec::with_capacity(attrs.len() + 1 + edges.len());
    key.extend(attrs.iter().map(|&a| a as u64));
    key.push(u64::MAX);
    key.extend(edges);
    key
}

/// The measured cliques' graph split into connected components, with each component's
/// triangulation size under every heuristic.
struct Components {
    /// Component (its smallest attribute) of every attribute.
    comp: Vec<usize>,
    /// Per component: its attributes (ascending) and the indices of its cliques.
    members: BTreeMap<usize, (Vec<usize>, Vec<usize>)>,
    /// Per component: its edges (`a * n + b`, `a < b`).
    edges: BTreeMap<usize, Vec<u64>>,
    /// Per component: its subgraph's key and cells of its triangulation under each heuristic.
    sizes: BTreeMap<usize, (GraphKey, Vec<u128>)>,
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
    /// The components of `measured`'s graph (`edge`: its adjacency matrix), with sizes
    /// taken from `memo` where it has them.
    fn new(domain: &Domain, measured: &[Clique], edge: &[bool], memo: &SizeMemo) -> Self {
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
        let edges: BTreeMap<usize, Vec<u64>> = members
            .iter()
            .map(|(&r, (attrs, _))| {
                let mut e = Vec::new();
                for (i, &a) in attrs.iter().enumerate() {
                    for &b in &attrs[i + 1..] {
                        if edge[a * n + b] {
                            e.push((a * n + b) as u64);
                        }
                    }
                }
                (r, e)
            })
            .collect();
        let sizes: BTreeMap<usize, (GraphKey, Vec<u128>)> = members
            .par_iter()
            .map(|(&r, (attrs, idx))| {
                let key = graph_key(attrs, edges[&r].clone());
                let kept = memo.sizes.get(&key);
                let cl: Vec<&Clique> = idx.iter().map(|&i| &measured[i]).collect();
                let s = (0..HEURISTIC_COUNT)
                    .map(|h| {
                        kept.and_then(|k| k[h])
                            .unwrap_or_else(|| part_size(domain, attrs, &cl, h))
                    })
                    .collect();
                (r, (key, s))
            })
            .collect();
        let total = (0..HEURISTIC_COUNT)
            .map(|h| sizes.values().map(|(_, s)| s[h]).sum())
            .collect();
        Components {
            comp,
            members,
            edges,
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
/// computation; one that adds none keeps the current size. Sizes of subgraphs the last
/// call computed come from `memo` (the same numbers: [`SizeMemo`]), which then holds this
/// call's.
pub(crate) fn fitting_candidates(
    domain: &Domain,
    measured: &[Clique],
    cand_list: &[Clique],
    open: &[usize],
    size_limit: usize,
    memo: &mut SizeMemo,
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
    let comps = Components::new(domain, &measured, &edge, memo);
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
    // Per distinct set of added pairs: the verdict, and the sizes of its subgraph.
    type Done<'k> = (&'k [(usize, usize)], bool, GraphKey, Sizes);
    let done: Vec<Done<'_>> = reps
        .into_par_iter()
        .map(|(k, i)| {
            let c = &cand_list[i];
            let touched: BTreeSet<usize> = c.attrs().iter().map(|&a| comps.comp[a]).collect();
            let mut attrs: Vec<usize> = Vec::new();
            let mut cliques: Vec<&Clique> = vec![c];
            let mut edges: Vec<u64> = k.iter().map(|&(a, b)| (a * n + b) as u64).collect();
            for r in &touched {
                let (at, idx) = &comps.members[r];
                attrs.extend(at);
                cliques.extend(idx.iter().map(|&j| &measured[j]));
                edges.extend(&comps.edges[r]);
            }
            attrs.sort_unstable();
            let key = graph_key(&attrs, edges);
            let mut sizes: Sizes = memo
                .sizes
                .get(&key)
                .copied()
                .unwrap_or([None; HEURISTIC_COUNT]);
            let fits_h = |h: usize, s: u128| {
                let before: u128 = touched.iter().map(|r| comps.sizes[r].1[h]).sum();
                fits(comps.total[h] - before + s)
            };
            // Kept sizes first (free), then the others in order until one fits: the
            // verdict is "some heuristic fits" either way.
            let mut ok = (0..HEURISTIC_COUNT).any(|h| sizes[h].is_some_and(|s| fits_h(h, s)));
            for (h, size) in sizes.iter_mut().enumerate() {
                if ok {
                    break;
                }
                if size.is_none() {
                    let s = part_size(domain, &attrs, &cliques, h);
                    *size = Some(s);
                    ok = fits_h(h, s);
                }
            }
            (k, ok, key, sizes)
        })
        .collect();
    let mut kept: HashMap<GraphKey, Sizes> = HashMap::with_capacity(done.len() + 8);
    let mut verdicts: BTreeMap<&[(usize, usize)], bool> = BTreeMap::new();
    for (k, ok, key, sizes) in done {
        verdicts.insert(k, ok);
        kept.insert(key, sizes);
    }
    for (key, s) in comps.sizes.into_values() {
        let mut sizes: Sizes = [None; HEURISTIC_COUNT];
        for (to, from) in sizes.iter_mut().zip(s) {
            *to = Some(from);
        }
        kept.insert(key, sizes);
    }
    memo.sizes = kept;
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

/// The measuring examples' CPU clock (`/proc/self/stat`), for the ignored replay test.
#[cfg(test)]
#[path = "../../examples/common/cpu.rs"]
mod cpu;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::aim::Workload;
    use crate::model::model_size_cells;
    use rand::{Rng, SeedableRng};

    /// The filter with nothing kept from an earlier call.
    fn fresh_filter(
        domain: &Domain,
        measured: &[Clique],
        cands: &[Clique],
        open: &[usize],
        limit: usize,
    ) -> Vec<usize> {
        fitting_candidates(
            domain,
            measured,
            cands,
            open,
            limit,
            &mut SizeMemo::default(),
        )
    }

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
                    assert_eq!(fresh_filter(&domain, &measured, &cands, open, limit), want);
                }
            }
        }
    }

    /// With sizes kept from round to round, the filter gives the verdicts of a fresh one on
    /// graphs that grow by random candidates, often by none that adds a pair (the memo's
    /// case), under limits that make it stop at each heuristic in turn.
    #[test]
    fn kept_sizes_give_the_fresh_verdicts_on_growing_graphs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let (mut reused, mut calls) = (0usize, 0usize);
        for _ in 0..25 {
            let d = rng.gen_range(4..14);
            let sizes: Vec<usize> = (0..d).map(|_| rng.gen_range(2..9)).collect();
            let domain = Domain::from_sizes(sizes);
            let cands: Vec<Clique> = Workload::all_k_way(d, 3).candidates().into_keys().collect();
            let mut measured: Vec<Clique> = (0..d).map(|a| Clique::new([a])).collect();
            let mut memo = SizeMemo::default();
            for _ in 0..2 * d {
                let open: Vec<usize> = if rng.gen_bool(0.2) {
                    (0..cands.len()).filter(|_| rng.gen_bool(0.7)).collect()
                } else {
                    (0..cands.len()).collect()
                };
                let naive: Vec<usize> = open
                    .iter()
                    .map(|&i| {
                        let mut cl = measured.clone();
                        cl.push(cands[i].clone());
                        model_size_cells(&domain, &cl)
                    })
                    .collect();
                let mut limits: Vec<usize> = (0..3)
                    .map(|_| naive[rng.gen_range(0..naive.len())])
                    .collect();
                limits.push(0);
                for limit in limits {
                    let kept = memo.sizes.len();
                    let got =
                        fitting_candidates(&domain, &measured, &cands, &open, limit, &mut memo);
                    let fresh = fresh_filter(&domain, &measured, &cands, &open, limit);
                    assert_eq!(got, fresh);
                    let want: Vec<usize> = open
                        .iter()
                        .zip(&naive)
                        .filter(|(_, &s)| s <= limit)
                        .map(|(&i, _)| i)
                        .collect();
                    assert_eq!(got, want);
                    calls += 1;
                    reused += usize::from(kept > 0);
                }
                // The next measurement: a candidate inside the graph (no new pair) a third
                // of the time, when there is one; otherwise any.
                let inside: Vec<&Clique> = cands
                    .iter()
                    .filter(|c| {
                        c.len() > 1
                            && c.attrs().iter().enumerate().all(|(i, &a)| {
                                c.attrs()[i + 1..].iter().all(|&b| {
                                    measured.iter().any(|m| m.contains(a) && m.contains(b))
                                })
                            })
                    })
                    .collect();
                let next = if !inside.is_empty() && rng.gen_bool(0.33) {
                    inside[rng.gen_range(0..inside.len())].clone()
                } else {
                    cands[rng.gen_range(0..cands.len())].clone()
                };
                measured.push(next);
            }
        }
        assert!(reused > 500, "only {reused} of {calls} calls reused sizes");
    }

    /// The kept sizes are really read: with every kept size replaced by 0, a second call on
    /// the same graph admits candidates a fresh filter rejects (their untouched components,
    /// and the current graph for candidates that add no pair, now cost nothing), so the
    /// reuse the other tests rely on is not vacuous.
    #[test]
    fn kept_sizes_are_read_on_the_next_call() {
        let domain = Domain::from_sizes(vec![6; 8]);
        let cands: Vec<Clique> = Workload::all_k_way(8, 3).candidates().into_keys().collect();
        let mut measured: Vec<Clique> = (0..8).map(|a| Clique::new([a])).collect();
        measured.extend([[0, 1, 2], [2, 3, 4], [5, 6, 7]].map(Clique::new));
        let open: Vec<usize> = (0..cands.len()).collect();
        let limit = model_size_cells(&domain, &measured);
        let mut memo = SizeMemo::default();
        let fresh = fitting_candidates(&domain, &measured, &cands, &open, limit, &mut memo);
        assert!(fresh.len() < open.len(), "the limit rejects some candidate");
        for sizes in memo.sizes.values_mut() {
            for s in sizes.iter_mut().flatten() {
                *s = 0;
            }
        }
        let tampered = fitting_candidates(&domain, &measured, &cands, &open, limit, &mut memo);
        assert!(
            tampered.len() > fresh.len() && fresh.iter().all(|i| tampered.contains(i)),
            "kept sizes were not read: {} fresh, {} with zeroed sizes",
            fresh.len(),
            tampered.len()
        );
    }

    /// The filter with sizes kept across rounds against a fresh one on every round of a
    /// saved AIM release (`FILTER_REPLAY_MODEL=model.json cargo test --release --lib
    /// kept_sizes_on_a_release -- --ignored --nocapture`): the same allowed candidates, and
    /// the CPU of each path (the memo path first, so neither warms the other's sizes).
    #[test]
    #[ignore]
    fn kept_sizes_on_a_release() {
        use crate::mechanism::AimOptions;
        use crate::model::{fit_cliques, EstimationOptions, StructuralZeros};
        use crate::release::pipeline::ModelFile;
        let Some(path) = std::env::var_os("FILTER_REPLAY_MODEL") else {
            return;
        };
        let file = ModelFile::load(std::path::Path::new(&path)).expect("a model file");
        let fitted = &file.fitted;
        let domain = fitted.model.domain().clone();
        let cands: Vec<Clique> = Workload::all_k_way(domain.len(), 3)
            .candidates()
            .into_keys()
            .collect();
        let defaults = AimOptions::default();
        let grow = cands.len() > defaults.grow_above;
        let max_cells = (defaults.max_model_size_mb * 1024.0 * 1024.0 / 8.0) as usize;
        let rho: f64 = fitted.ledger.iter().map(|e| e.rho).sum();
        let zeros = StructuralZeros::from_model(&fitted.model);
        let est = EstimationOptions {
            max_cells,
            zeros: (!zeros.is_empty()).then(|| std::sync::Arc::new(zeros)),
            ..defaults.estimation.clone()
        };
        let ms = &fitted.measurements;
        let first = ms
            .iter()
            .position(|m| m.clique.len() > 1)
            .unwrap_or(ms.len());
        // Each round's size limit, as AIM computed it (budget spent after the round).
        let (mut spent, mut limits) = (0.0, Vec::new());
        for e in &fitted.ledger {
            spent += e.rho;
            if e.purpose.starts_with("AIM round") && e.mechanism != "noisy_max" {
                limits.push(((max_cells as f64 * spent / rho) as usize).min(max_cells));
            }
        }
        let cpu = super::cpu::cpu_seconds;
        let mut memo = SizeMemo::default();
        let (mut t_memo, mut t_fresh, mut allowed) = (0.0, 0.0, 0usize);
        for (t, &limit) in limits.iter().enumerate() {
            let now: Vec<Clique> = ms[..first + t].iter().map(|m| m.clique.clone()).collect();
            let open = open_candidates(&cands, &now, grow);
            let measured = fit_cliques(now, &est);
            let c = cpu();
            let got = fitting_candidates(&domain, &measured, &cands, &open, limit, &mut memo);
            t_memo += cpu() - c;
            let c = cpu();
            let fresh = fresh_filter(&domain, &measured, &cands, &open, limit);
            t_fresh += cpu() - c;
            assert_eq!(got, fresh, "round {}", t + 1);
            allowed += got.len();
        }
        println!(
            "{}: {} rounds, {allowed} allowed in all, filter CPU {t_fresh:.2} s fresh, {t_memo:.2} s with kept sizes",
            path.to_string_lossy(),
            limits.len()
        );
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
