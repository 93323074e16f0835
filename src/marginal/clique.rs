//! Cliques: sorted sets of attribute indices, the unit of measurement and modelling.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::Domain;

/// A sorted, duplicate-free set of attribute indices (a "clique" in Private-PGM's terms).
///
/// Sorting is the invariant every marginal table relies on: the axes of a table over a
/// clique are the clique's attributes in increasing order.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Clique(Vec<usize>);

impl Clique {
    /// Builds a clique from any attribute list; sorts and removes duplicates.
    pub fn new(attrs: impl IntoIterator<Item = usize>) -> Self {
        let mut v: Vec<usize> = attrs.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        Clique(v)
    }

    pub fn empty() -> Self {
        Clique(Vec::new())
    }

    pub fn attrs(&self) -> &[usize] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, attr: usize) -> bool {
        self.0.binary_search(&attr).is_ok()
    }

    /// Position of `attr` among this clique's axes.
    pub fn axis_of(&self, attr: usize) -> Option<usize> {
        self.0.binary_search(&attr).ok()
    }

    pub fn is_subset_of(&self, other: &Clique) -> bool {
        self.0.iter().all(|a| other.contains(*a))
    }

    pub fn union(&self, other: &Clique) -> Clique {
        Clique::new(self.0.iter().chain(other.0.iter()).copied())
    }

    pub fn intersection(&self, other: &Clique) -> Clique {
        Clique(
            self.0
                .iter()
                .copied()
                .filter(|a| other.contains(*a))
                .collect(),
        )
    }

    pub fn difference(&self, other: &Clique) -> Clique {
        Clique(
            self.0
                .iter()
                .copied()
                .filter(|a| !other.contains(*a))
                .collect(),
        )
    }

    /// Number of cells of a table over this clique (1 for the empty clique).
    /// Saturates at `usize::MAX` (schemas allow large domains; callers compare against caps).
    pub fn cells(&self, domain: &Domain) -> usize {
        self.0
            .iter()
            .fold(1usize, |acc, &a| acc.saturating_mul(domain.size(a)))
    }

    /// Shape of a table over this clique.
    pub fn shape(&self, domain: &Domain) -> Vec<usize> {
        self.0.iter().map(|&a| domain.size(a)).collect()
    }

    /// All sub-cliques of exactly `k` attributes, in lexicographic order.
    pub fn subsets_of_size(&self, k: usize) -> Vec<Clique> {
        let mut out = Vec::new();
        let n = self.0.len();
        if k > n {
            return out;
        }
        let mut idx: Vec<usize> = (0..k).collect();
        'next: loop {
            out.push(Clique(idx.iter().map(|&i| self.0[i]).collect()));
            // Advance the rightmost index that still has room, reset those after it.
            for i in (0..k).rev() {
                if idx[i] < i + n - k {
                    idx[i] += 1;
                    for j in i + 1..k {
                        idx[j] = idx[j - 1] + 1;
                    }
                    continue 'next;
                }
            }
            return out;
        }
    }

    /// Column names of this clique joined for messages and certificates.
    pub fn describe(&self, domain: &Domain) -> String {
        self.0
            .iter()
            .map(|&a| domain.name(a))
            .collect::<Vec<_>>()
            .join(" x ")
    }
}

impl fmt::Debug for Clique {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<Vec<usize>> for Clique {
    fn from(v: Vec<usize>) -> Self {
        Clique::new(v)
    }
}

/// All k-subsets of `0..n`, each as a clique.
pub fn all_k_way(n: usize, k: usize) -> Vec<Clique> {
    Clique::new(0..n).subsets_of_size(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sorts_and_dedups() {
        assert_eq!(Clique::new([3, 1, 3, 2]).attrs(), &[1, 2, 3]);
    }

    #[test]
    fn subsets_count_binomial() {
        assert_eq!(all_k_way(15, 2).len(), 105);
        assert_eq!(all_k_way(15, 3).len(), 455);
        assert_eq!(all_k_way(3, 3).len(), 1);
        assert_eq!(all_k_way(3, 0).len(), 1);
        assert_eq!(all_k_way(2, 3).len(), 0);
        let s = all_k_way(4, 2);
        assert_eq!(s[0].attrs(), &[0, 1]);
        assert_eq!(s[5].attrs(), &[2, 3]);
    }

    #[test]
    fn set_ops() {
        let a = Clique::new([1, 2, 5]);
        let b = Clique::new([2, 5, 7]);
        assert_eq!(a.intersection(&b).attrs(), &[2, 5]);
        assert_eq!(a.difference(&b).attrs(), &[1]);
        assert_eq!(a.union(&b).attrs(), &[1, 2, 5, 7]);
        assert!(Clique::new([2, 5]).is_subset_of(&a));
        assert_eq!(a.axis_of(5), Some(2));
    }
}
