//! Junction trees: triangulation of the measured cliques' interaction graph by a greedy
//! elimination order, the maximal cliques of the resulting chordal graph, and a tree over
//! them with the running-intersection property.
//!
//! Everything here is symbolic (attribute sets and sizes), so the size of a model in cells
//! is known before a single potential is allocated.

use serde::{Deserialize, Serialize};

use crate::marginal::{Clique, Domain};

/// Greedy vertex-elimination heuristics. Each picks, at every step, the attribute whose
/// elimination scores lowest; ties go to the lower attribute index so orders are
/// reproducible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heuristic {
    /// Fewest fill-in edges (Kjaerulff's min-fill); ties by clique cells.
    MinFill,
    /// Fewest cells in the clique the elimination creates (min-weight); ties by fill-in.
    MinWeight,
    /// Fill-in edges weighted by the product of their endpoints' domain sizes.
    WeightedMinFill,
}

const HEURISTICS: [Heuristic; 3] = [
    Heuristic::MinFill,
    Heuristic::MinWeight,
    Heuristic::WeightedMinFill,
];

/// Small dense bitset over attributes (the interaction graph's adjacency rows).
#[derive(Clone, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64).max(1)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }
    fn count_and_not(&self, other: &Bits) -> u32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a & !b).count_ones())
            .sum()
    }
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut x = word;
            std::iter::from_fn(move || {
                if x == 0 {
                    return None;
                }
                let t = x.trailing_zeros() as usize;
                x &= x - 1;
                Some(w * 64 + t)
            })
        })
    }
}

/// Product of the sizes of `attrs`, saturating at `usize::MAX` (sizes are only compared
/// against a cap, so saturation is the honest answer for "too large").
pub(crate) fn saturating_cells(domain: &Domain, attrs: &[usize]) -> usize {
    attrs
        .iter()
        .fold(1usize, |acc, &a| acc.saturating_mul(domain.size(a)))
}

/// The cliques created by eliminating every attribute in a greedy order.
fn elimination_cliques(domain: &Domain, cliques: &[Clique], heuristic: Heuristic) -> Vec<Clique> {
    if domain.len() <= 64 {
        return elimination_cliques_word(domain, cliques, heuristic);
    }
    elimination_cliques_bits(domain, cliques, heuristic)
}

/// [`elimination_cliques`] for at most 64 attributes, each adjacency row one `u64` (no
/// allocation per row, a `popcnt` per fill count where the CPU has it). AIM's size filter
/// runs an elimination per heuristic for every candidate that adds pairs to the graph, each
/// round (mechanism/candidates.rs). The same greedy choices as [`elimination_cliques_bits`]:
/// the same scores, summed in the same order, compared in the same order (unit test).
#[multiversion::multiversion(targets("x86_64+popcnt"))]
fn elimination_cliques_word(
    domain: &Domain,
    cliques: &[Clique],
    heuristic: Heuristic,
) -> Vec<Clique> {
    let n = domain.len();
    debug_assert!(n <= 64);
    let bit = |i: usize| 1u64 << i;
    let mut adj = [0u64; 64];
    for c in cliques {
        let mask = c.attrs().iter().fold(0u64, |m, &a| m | bit(a));
        for &a in c.attrs() {
            adj[a] |= mask & !bit(a);
        }
    }
    let log_size: Vec<f64> = (0..n).map(|a| (domain.size(a) as f64).ln()).collect();
    let mut alive: u64 = if n == 64 { u64::MAX } else { bit(n) - 1 };
    let mut out = Vec::with_capacity(n);
    let ones = |mut x: u64| {
        std::iter::from_fn(move || {
            (x != 0).then(|| {
                let t = x.trailing_zeros() as usize;
                x &= x - 1;
                t
            })
        })
    };
    for _ in 0..n {
        let mut best: Option<(usize, (f64, f64))> = None;
        for v in ones(alive) {
            let nv = adj[v];
            let mut fill = 0u32;
            let mut weighted_fill = 0f64;
            for u in ones(nv) {
                // v's neighbours not adjacent to u, minus u itself.
                let missing = (nv & !adj[u]).count_ones() - 1;
                fill += missing;
                if heuristic == Heuristic::WeightedMinFill && missing > 0 {
                    // Neighbours after u (ascending) not adjacent to it.
                    let after = nv & !adj[u] & !(bit(u) | (bit(u) - 1));
                    for w in ones(after) {
                        weighted_fill += (log_size[u] + log_size[w]).exp();
                    }
                }
            }
            let weight = log_size[v] + ones(nv).map(|u| log_size[u]).sum::<f64>();
            keep_best(&mut best, v, heuristic, fill, weighted_fill, weight);
        }
        let Some((v, _)) = best else { break };
        let nv = adj[v];
        out.push(Clique::new(ones(nv).chain([v])));
        for u in ones(nv) {
            adj[u] = (adj[u] | nv) & !bit(u) & !bit(v);
        }
        alive &= !bit(v);
    }
    out
}

/// [`elimination_cliques`] on any number of attributes.
fn elimination_cliques_bits(
    domain: &Domain,
    cliques: &[Clique],
    heuristic: Heuristic,
) -> Vec<Clique> {
    let n = domain.len();
    let mut adj: Vec<Bits> = vec![Bits::new(n); n];
    for c in cliques {
        for &a in c.attrs() {
            for &b in c.attrs() {
                if a != b {
                    adj[a].set(b);
                }
            }
        }
    }
    let log_size: Vec<f64> = (0..n).map(|a| (domain.size(a) as f64).ln()).collect();
    let mut alive = vec![true; n];
    let mut out = Vec::with_capacity(n);
    // One neighbour buffer for the whole elimination (this runs once per AIM candidate).
    let mut nbrs: Vec<usize> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut best: Option<(usize, (f64, f64))> = None;
        for v in (0..n).filter(|&v| alive[v]) {
            nbrs.clear();
            nbrs.extend(adj[v].iter());
            // Fill-in: pairs of neighbours that are not yet adjacent.
            let mut fill = 0u32;
            let mut weighted_fill = 0f64;
            for (i, &u) in nbrs.iter().enumerate() {
                let missing = adj[v].count_and_not(&adj[u]) - 1; // v's neighbours not adjacent to u, minus u itself
                fill += missing;
                if heuristic == Heuristic::WeightedMinFill && missing > 0 {
                    for &w in &nbrs[i + 1..] {
                        if !adj[u].get(w) {
                            weighted_fill += (log_size[u] + log_size[w]).exp();
                        }
                    }
                }
            }
            let weight = log_size[v] + nbrs.iter().map(|&u| log_size[u]).sum::<f64>();
            keep_best(&mut best, v, heuristic, fill, weighted_fill, weight);
        }
        let Some((v, _)) = best else { break };
        nbrs.clear();
        nbrs.extend(adj[v].iter());
        out.push(Clique::new(nbrs.iter().copied().chain([v])));
        for &u in &nbrs {
            for &w in &nbrs {
                if u != w {
                    adj[u].set(w);
                }
            }
            adj[u].clear(v);
        }
        alive[v] = false;
    }
    out
}

/// The greedy step both elimination paths share: `v`'s score under `heuristic` from its
/// fill-in (`missing`, each pair counted from both ends), weighted fill-in and log clique
/// cells, kept in `best` when strictly lower (so ties go to the lower attribute).
fn keep_best(
    best: &mut Option<(usize, (f64, f64))>,
    v: usize,
    heuristic: Heuristic,
    missing: u32,
    weighted_fill: f64,
    weight: f64,
) {
    let fill = f64::from(missing / 2);
    let score = match heuristic {
        Heuristic::MinFill => (fill, weight),
        Heuristic::MinWeight => (weight, fill),
        Heuristic::WeightedMinFill => (weighted_fill, weight),
    };
    if best.is_none_or(|(_, b)| score < b) {
        *best = Some((v, score));
    }
}

/// Keeps only cliques not contained in another (the first copy of duplicates).
fn maximal(cands: Vec<Clique>) -> Vec<Clique> {
    let mut out: Vec<Clique> = Vec::new();
    let mut sorted = cands;
    // Larger cliques first so that a subset always meets its superset already kept.
    sorted.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    for c in sorted {
        if !out.iter().any(|k| c.is_subset_of(k)) {
            out.push(c);
        }
    }
    out.sort();
    out
}

/// Maximal cliques of the triangulated graph of `cliques` (every attribute of the domain
/// included), trying each heuristic and keeping the smallest total size in cells.
pub(crate) fn triangulate(domain: &Domain, cliques: &[Clique]) -> Vec<Clique> {
    if domain.is_empty() {
        return vec![Clique::empty()];
    }
    let mut best: Option<(usize, Vec<Clique>)> = None;
    for h in HEURISTICS {
        let max = maximal(elimination_cliques(domain, cliques, h));
        let size = total_cells(domain, &max);
        if best.as_ref().is_none_or(|(s, _)| size < *s) {
            best = Some((size, max));
        }
    }
    best.map(|(_, c)| c).unwrap_or_default()
}

/// The number of greedy heuristics [`triangulate`] tries ([`heuristic_size`]'s `index` range).
pub(crate) const HEURISTIC_COUNT: usize = HEURISTICS.len();

/// Total cells of the triangulation the `index`-th heuristic builds for `cliques`.
/// [`triangulate`] keeps the smallest of these, so its size is their minimum; AIM's size
/// filter (mechanism/candidates.rs) reads them one at a time to stop early.
pub(crate) fn heuristic_size(domain: &Domain, cliques: &[Clique], index: usize) -> usize {
    total_cells(
        domain,
        &maximal(elimination_cliques(domain, cliques, HEURISTICS[index])),
    )
}

/// Sum of the cells of `cliques`, saturating.
pub(crate) fn total_cells(domain: &Domain, cliques: &[Clique]) -> usize {
    cliques.iter().fold(0usize, |acc, c| {
        acc.saturating_add(saturating_cells(domain, c.attrs()))
    })
}

/// A junction tree: maximal cliques, each non-root clique linked to a parent, with the
/// running-intersection property (an attribute's cliques form a connected subtree).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JunctionTree {
    cliques: Vec<Clique>,
    parent: Vec<Option<usize>>,
    #[serde(skip)]
    order: Vec<usize>,
    #[serde(skip)]
    separators: Vec<Clique>,
    #[serde(skip)]
    children: Vec<Vec<usize>>,
}

impl JunctionTree {
    /// Triangulates `cliques` over the whole domain and links the maximal cliques by a
    /// maximum-weight spanning tree on separator size (which, for the maximal cliques of a
    /// chordal graph, is a junction tree). Disconnected parts are joined through empty
    /// separators, so there is always exactly one tree and one root.
    pub fn build(domain: &Domain, cliques: &[Clique]) -> Self {
        let maxc = triangulate(domain, cliques);
        Self::from_maximal_cliques(maxc)
    }

    /// Tree over already-maximal cliques of a chordal graph.
    pub(crate) fn from_maximal_cliques(cliques: Vec<Clique>) -> Self {
        let k = cliques.len();
        let mut edges: Vec<(usize, usize, usize)> = Vec::new();
        for i in 0..k {
            for j in i + 1..k {
                let w = cliques[i].intersection(&cliques[j]).len();
                if w > 0 {
                    edges.push((w, i, j));
                }
            }
        }
        edges.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut uf: Vec<usize> = (0..k).collect();
        fn find(uf: &mut [usize], mut x: usize) -> usize {
            while uf[x] != x {
                uf[x] = uf[uf[x]];
                x = uf[x];
            }
            x
        }
        let mut adj: Vec<Vec<usize>> = vec![Vec::new(); k];
        for &(_, i, j) in &edges {
            let (ri, rj) = (find(&mut uf, i), find(&mut uf, j));
            if ri != rj {
                uf[ri] = rj;
                adj[i].push(j);
                adj[j].push(i);
            }
        }
        // Join components through empty separators (independent parts of the model).
        for i in 1..k {
            let (r0, ri) = (find(&mut uf, 0), find(&mut uf, i));
            if r0 != ri {
                uf[ri] = r0;
                adj[0].push(i);
                adj[i].push(0);
            }
        }
        // Root: the clique with the most attributes' cells is sampled jointly; lowest index on ties.
        let root = (0..k)
            .max_by(|&a, &b| cliques[a].len().cmp(&cliques[b].len()).then(b.cmp(&a)))
            .unwrap_or(0);
        let mut parent = vec![None; k];
        let mut seen = vec![false; k];
        let mut queue = std::collections::VecDeque::from([root]);
        if k > 0 {
            seen[root] = true;
        }
        while let Some(c) = queue.pop_front() {
            let mut nb = adj[c].clone();
            nb.sort_unstable();
            for n in nb {
                if !seen[n] {
                    seen[n] = true;
                    parent[n] = Some(c);
                    queue.push_back(n);
                }
            }
        }
        Self::from_parts(cliques, parent)
            .unwrap_or_else(|| unreachable!("a spanning tree built here is valid"))
    }

    /// Rebuilds the derived fields (order, separators, children) from cliques and parents;
    /// `None` if the parents do not form one tree.
    pub(crate) fn from_parts(cliques: Vec<Clique>, parent: Vec<Option<usize>>) -> Option<Self> {
        let k = cliques.len();
        if parent.len() != k || k == 0 {
            return None;
        }
        let roots: Vec<usize> = (0..k).filter(|&c| parent[c].is_none()).collect();
        if roots.len() != 1 {
            return None;
        }
        let mut children = vec![Vec::new(); k];
        for (c, par) in parent.iter().enumerate() {
            if let Some(p) = *par {
                if p >= k || p == c {
                    return None;
                }
                children[p].push(c);
            }
        }
        let mut order = Vec::with_capacity(k);
        let mut queue = std::collections::VecDeque::from([roots[0]]);
        while let Some(c) = queue.pop_front() {
            order.push(c);
            if order.len() > k {
                return None;
            }
            queue.extend(children[c].iter().copied());
        }
        if order.len() != k {
            return None; // a cycle detached from the root
        }
        let separators = (0..k)
            .map(|c| parent[c].map_or_else(Clique::empty, |p| cliques[c].intersection(&cliques[p])))
            .collect();
        Some(JunctionTree {
            cliques,
            parent,
            order,
            separators,
            children,
        })
    }

    pub fn cliques(&self) -> &[Clique] {
        &self.cliques
    }

    pub fn parent(&self, c: usize) -> Option<usize> {
        self.parent[c]
    }

    pub fn parents(&self) -> &[Option<usize>] {
        &self.parent
    }

    /// Every clique's neighbours in the tree (its parent and children), ascending.
    pub(crate) fn neighbours(&self) -> Vec<Vec<usize>> {
        let mut adj: Vec<Vec<usize>> = vec![Vec::new(); self.cliques.len()];
        for (c, p) in self.parent.iter().enumerate() {
            if let Some(p) = *p {
                adj[c].push(p);
                adj[p].push(c);
            }
        }
        for a in &mut adj {
            a.sort_unstable();
        }
        adj
    }

    /// Root first; every clique after its parent.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    pub fn root(&self) -> usize {
        self.order[0]
    }

    pub fn children(&self, c: usize) -> &[usize] {
        &self.children[c]
    }

    /// `cliques[c] ∩ cliques[parent(c)]` (empty for the root).
    pub fn separator(&self, c: usize) -> &Clique {
        &self.separators[c]
    }

    pub fn size_cells(&self, domain: &Domain) -> usize {
        total_cells(domain, &self.cliques)
    }

    /// The smallest tree clique (in cells) containing `clique`, lowest index on ties.
    pub fn containing(&self, domain: &Domain, clique: &Clique) -> Option<usize> {
        (0..self.cliques.len())
            .filter(|&c| clique.is_subset_of(&self.cliques[c]))
            .min_by_key(|&c| (saturating_cells(domain, self.cliques[c].attrs()), c))
    }

    /// Whether every attribute's cliques form a connected subtree (running intersection).
    pub fn has_running_intersection(&self, n_attrs: usize) -> bool {
        (0..n_attrs).all(|a| {
            let holders: Vec<usize> = (0..self.cliques.len())
                .filter(|&c| self.cliques[c].contains(a))
                .collect();
            // Connected iff exactly one holder has a parent outside the holders (or no parent).
            holders
                .iter()
                .filter(|&&c| self.parent[c].is_none_or(|p| !self.cliques[p].contains(a)))
                .count()
                <= 1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(usize, usize)]) -> Vec<Clique> {
        list.iter().map(|&(a, b)| Clique::new([a, b])).collect()
    }

    /// The one-word elimination makes the general one's choices: random graphs of 1 to 64
    /// attributes (sparse to dense, sizes 2 to 40 so weights tie and differ), every heuristic.
    #[test]
    fn word_elimination_matches_the_general_one() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut checked = 0;
        for n in (1..=64).chain([64, 64, 48, 24, 24, 15]) {
            for density in [0.02, 0.1, 0.3] {
                let d = Domain::from_sizes((0..n).map(|_| rng.gen_range(2..=40)).collect());
                let count = (density * (n * n) as f64) as usize + 1;
                let cliques: Vec<Clique> = (0..count)
                    .map(|_| {
                        let k = rng.gen_range(1..=3.min(n));
                        Clique::new((0..k).map(|_| rng.gen_range(0..n)))
                    })
                    .collect();
                for h in HEURISTICS {
                    assert_eq!(
                        elimination_cliques_word(&d, &cliques, h),
                        elimination_cliques_bits(&d, &cliques, h),
                        "n {n}, density {density}, {h:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 70 * 3 * 3);
    }

    #[test]
    fn tree_of_pairs_keeps_pairs() {
        let d = Domain::from_sizes(vec![3; 5]);
        let jt = JunctionTree::build(&d, &pairs(&[(0, 1), (1, 2), (1, 3), (3, 4)]));
        assert_eq!(jt.cliques().len(), 4);
        assert!(jt.cliques().iter().all(|c| c.len() == 2));
        assert!(jt.has_running_intersection(5));
        assert_eq!(jt.size_cells(&d), 36);
    }

    #[test]
    fn cycle_is_triangulated() {
        let d = Domain::from_sizes(vec![2; 4]);
        let jt = JunctionTree::build(&d, &pairs(&[(0, 1), (1, 2), (2, 3), (3, 0)]));
        // A 4-cycle needs one chord: two triangles.
        assert_eq!(jt.cliques().len(), 2);
        assert!(jt.cliques().iter().all(|c| c.len() == 3));
        assert!(jt.has_running_intersection(4));
        for e in pairs(&[(0, 1), (1, 2), (2, 3), (3, 0)]) {
            assert!(jt.containing(&d, &e).is_some());
        }
    }

    #[test]
    fn unmeasured_attributes_get_singletons_and_components_join() {
        let d = Domain::from_sizes(vec![2, 3, 4, 5]);
        let jt = JunctionTree::build(&d, &pairs(&[(0, 1)]));
        assert_eq!(
            jt.cliques(),
            &[Clique::new([0, 1]), Clique::new([2]), Clique::new([3])]
        );
        assert_eq!(jt.order().len(), 3);
        assert!(jt.separator(jt.order()[1]).is_empty());
        assert_eq!(jt.size_cells(&d), 6 + 4 + 5);
    }

    #[test]
    fn complete_graph_is_one_clique_and_size_saturates() {
        let d = Domain::from_sizes(vec![1000; 8]);
        let all: Vec<Clique> = crate::marginal::all_k_way(8, 2);
        let jt = JunctionTree::build(&d, &all);
        assert_eq!(jt.cliques().len(), 1);
        assert_eq!(jt.size_cells(&d), usize::MAX);
    }

    #[test]
    fn running_intersection_on_random_graphs() {
        // A fixed pseudo-random family of graphs over 12 attributes.
        let d = Domain::from_sizes((0..12).map(|i| 2 + i % 4).collect());
        let mut state = 12345u64;
        for _ in 0..50 {
            let mut cl = Vec::new();
            for _ in 0..10 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let a = (state >> 33) as usize % 12;
                let b = (state >> 17) as usize % 12;
                let c = (state >> 45) as usize % 12;
                cl.push(Clique::new([a, b, c]));
            }
            let jt = JunctionTree::build(&d, &cl);
            assert!(jt.has_running_intersection(12));
            for c in &cl {
                assert!(jt.containing(&d, c).is_some(), "{c:?} not covered");
            }
        }
    }
}
