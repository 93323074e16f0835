//! Truncation to at most `K` rows per privacy unit: the stable transformation that makes
//! every count a mechanism sees move by at most `K` when one unit is added or removed.
//!
//! The reader records each row's unit (the value of the unit column, interned to a small
//! integer: [`UnitIds`]); [`truncate_units`] then keeps, for each unit with more than `K`
//! rows, `K` of them chosen uniformly at random with a CSPRNG. Never the first `K` in file
//! order: the choice must not depend on anything but the unit's own rows and fresh random
//! bits. Proof: proofs/privacy-unit.md, section 1.
//!
//! Everything here is PRIVATE: the unit ids, the number of units, rows per unit and the rows
//! dropped. [`UnitProfile`] summarises them for the trusted operator (`schema check`) only.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use rand::{CryptoRng, RngCore};

use super::encoded::{Codes, EncodedTable};

/// Each row's unit, as an index `0..n_units` in order of first appearance. PRIVATE.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitIds {
    ids: Vec<u32>,
    n_units: usize,
}

impl UnitIds {
    /// From per-row unit indices (tests, other readers). Indices need not be dense.
    pub fn from_indices(ids: Vec<u32>) -> Self {
        let n_units = ids.iter().map(|&i| i as usize + 1).max().unwrap_or(0);
        UnitIds { ids, n_units }
    }

    /// One entry per row.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Rows of each unit, by unit index (units without rows, possible only with
    /// `from_indices`, have an empty list).
    fn rows_by_unit(&self) -> Vec<Vec<u32>> {
        let mut by_unit: Vec<Vec<u32>> = vec![Vec::new(); self.n_units];
        for (row, &u) in self.ids.iter().enumerate() {
            by_unit[u as usize].push(row as u32);
        }
        by_unit
    }
}

/// Interns unit values while a reader streams rows.
#[derive(Debug, Default)]
pub struct UnitInterner {
    index: HashMap<String, u32>,
    ids: Vec<u32>,
}

impl UnitInterner {
    /// Records the unit of the next row.
    pub fn push(&mut self, value: &str) {
        let next = self.index.len() as u32;
        let id = match self.index.get(value) {
            Some(&i) => i,
            None => {
                self.index.insert(value.to_string(), next);
                next
            }
        };
        self.ids.push(id);
    }

    pub fn finish(self) -> UnitIds {
        UnitIds {
            n_units: self.index.len(),
            ids: self.ids,
        }
    }
}

/// Notices whether any value of a column occurs twice, keeping 64-bit hashes only (a hash
/// collision can at worst produce a spurious note for the operator, never a wrong release).
#[derive(Debug, Default)]
pub struct RepeatDetector {
    seen: HashSet<u64>,
    repeated: bool,
}

impl RepeatDetector {
    pub fn push(&mut self, value: &str) {
        if self.repeated {
            return;
        }
        let mut h = DefaultHasher::new();
        value.hash(&mut h);
        if !self.seen.insert(h.finish()) {
            self.repeated = true;
            self.seen = HashSet::new();
        }
    }

    /// Whether some value occurred more than once.
    pub fn repeated(&self) -> bool {
        self.repeated
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TruncateError {
    #[error("internal error: {units} unit ids for a table of {rows} rows")]
    Length { units: usize, rows: usize },
    #[error("max_rows_per_unit must be at least 1")]
    ZeroBound,
    #[error("internal error: the table was read without its unit column")]
    NoUnits,
}

/// Keeps at most `max_rows` rows of each unit of `table` (read with a unit column): all rows of a unit with at most `max_rows`,
/// otherwise a uniformly random subset of exactly `max_rows` (every subset equally likely),
/// drawn from `rng`, which must be a CSPRNG in a release (`privacy::secure_rng`). Kept rows
/// stay in file order. The result carries no unit ids: mechanisms never see them.
///
/// Proof that this is a stable transformation (unit neighbours become neighbours differing
/// by at most `max_rows` rows): proofs/privacy-unit.md, section 1.
pub fn truncate_units<R: RngCore + CryptoRng>(
    table: &EncodedTable,
    max_rows: u32,
    rng: &mut R,
) -> Result<EncodedTable, TruncateError> {
    if max_rows == 0 {
        return Err(TruncateError::ZeroBound);
    }
    let units = table.units().ok_or(TruncateError::NoUnits)?;
    if units.len() != table.n_rows() {
        return Err(TruncateError::Length {
            units: units.len(),
            rows: table.n_rows(),
        });
    }
    let k = max_rows as usize;
    let mut keep = vec![false; table.n_rows()];
    for rows in units.rows_by_unit() {
        if rows.len() <= k {
            for r in rows {
                keep[r as usize] = true;
            }
        } else {
            for i in rand::seq::index::sample(rng, rows.len(), k) {
                keep[rows[i] as usize] = true;
            }
        }
    }
    let columns = (0..table.n_cols())
        .map(|c| {
            let src = table.column(c);
            let mut out = Codes::with_cardinality(table.cardinalities()[c], 0);
            for (r, _) in keep.iter().enumerate().filter(|(_, &k)| k) {
                out.push(src.get(r));
            }
            out
        })
        .collect();
    EncodedTable::new(
        table.names().to_vec(),
        table.cardinalities().to_vec(),
        columns,
    )
    .ok_or(TruncateError::Length {
        units: units.len(),
        rows: table.n_rows(),
    })
}

/// How rows are spread over units, and what a bound `K` would drop. PRIVATE: exact counts
/// over the private data, for the trusted operator choosing `K` (`schema check --data
/// --privacy-unit`). Never written into a release or printed by a release run.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitProfile {
    /// Rows per unit, sorted ascending.
    rows_per_unit: Vec<u64>,
    total_rows: u64,
}

impl UnitProfile {
    pub fn new(units: &UnitIds) -> Self {
        let mut rows_per_unit: Vec<u64> = units
            .rows_by_unit()
            .iter()
            .map(|r| r.len() as u64)
            .filter(|&n| n > 0)
            .collect();
        rows_per_unit.sort_unstable();
        UnitProfile {
            total_rows: units.len() as u64,
            rows_per_unit,
        }
    }

    pub fn units(&self) -> usize {
        self.rows_per_unit.len()
    }

    pub fn rows(&self) -> u64 {
        self.total_rows
    }

    /// The `q`-quantile of rows per unit (nearest rank), `q` in [0, 1].
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.rows_per_unit.len();
        if n == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
        self.rows_per_unit[rank - 1]
    }

    /// Rows that truncation to `k` per unit would drop.
    pub fn dropped(&self, k: u64) -> u64 {
        self.rows_per_unit
            .iter()
            .map(|&n| n.saturating_sub(k))
            .sum()
    }

    /// Share of all rows truncation to `k` would drop.
    pub fn dropped_share(&self, k: u64) -> f64 {
        if self.total_rows == 0 {
            0.0
        } else {
            self.dropped(k) as f64 / self.total_rows as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Rows (unit, value): unit 0 has 5 rows with values 0..5, unit 1 has 2, unit 2 has 1.
    fn plain() -> EncodedTable {
        let values = [0u32, 10, 1, 2, 20, 3, 11, 4];
        let rows: Vec<Vec<u32>> = values.iter().map(|&v| vec![v]).collect();
        EncodedTable::from_rows(vec!["v".into()], vec![21], &rows).unwrap()
    }

    fn table() -> EncodedTable {
        let units = vec![0, 1, 0, 0, 2, 0, 1, 0];
        plain().with_units(UnitIds::from_indices(units)).unwrap()
    }

    fn kept_values(t: &EncodedTable) -> Vec<u32> {
        (0..t.n_rows()).map(|r| t.column(0).get(r)).collect()
    }

    #[test]
    fn keeps_at_most_k_per_unit_and_small_units_whole() {
        let t = table();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for k in 1..=6u32 {
            let out = truncate_units(&t, k, &mut rng).unwrap();
            assert!(out.units().is_none());
            let v = kept_values(&out);
            let unit0 = v.iter().filter(|&&x| x < 10).count();
            assert_eq!(unit0, 5.min(k as usize));
            assert_eq!(
                v.iter().filter(|&&x| (10..20).contains(&x)).count(),
                2.min(k as usize)
            );
            assert_eq!(v.iter().filter(|&&x| x == 20).count(), 1);
            // File order is kept within each unit (values increase along the file).
            for unit in [0..10, 10..20] {
                let w: Vec<u32> = v.iter().copied().filter(|x| unit.contains(x)).collect();
                assert!(w.windows(2).all(|p| p[0] < p[1]), "{w:?}");
            }
        }
        assert_eq!(
            truncate_units(&t, 0, &mut rng).unwrap_err(),
            TruncateError::ZeroBound
        );
        assert_eq!(
            truncate_units(&plain(), 2, &mut rng).unwrap_err(),
            TruncateError::NoUnits
        );
        assert!(plain()
            .with_units(UnitIds::from_indices(vec![0, 1]))
            .is_none());
    }

    /// Unit 0 has 5 rows; with K = 2 each of the C(5, 2) = 10 subsets must be equally likely
    /// (in particular, not the first two in file order). 20,000 draws, chi-square with 9
    /// degrees of freedom: the 1e-6 upper quantile is 42.0, so a correct sampler fails this
    /// with probability 1e-6.
    #[test]
    fn every_subset_equally_likely() {
        let t = table();
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let mut counts: HashMap<Vec<u32>, usize> = HashMap::new();
        let n = 20_000;
        for _ in 0..n {
            let out = truncate_units(&t, 2, &mut rng).unwrap();
            let kept: Vec<u32> = kept_values(&out).into_iter().filter(|&x| x < 10).collect();
            *counts.entry(kept).or_default() += 1;
        }
        assert_eq!(counts.len(), 10);
        let expected = n as f64 / 10.0;
        let chi2: f64 = counts
            .values()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 42.0, "chi-square {chi2}: {counts:?}");
    }

    #[test]
    fn interner_and_profile() {
        let mut i = UnitInterner::default();
        for v in ["a", "b", "a", "c", "a", "b"] {
            i.push(v);
        }
        let u = i.finish();
        assert_eq!(u.ids(), &[0, 1, 0, 2, 0, 1]);
        let p = UnitProfile::new(&u);
        assert_eq!((p.units(), p.rows()), (3, 6));
        assert_eq!(p.quantile(0.0), 1);
        assert_eq!(p.quantile(0.5), 2);
        assert_eq!(p.quantile(1.0), 3);
        assert_eq!(p.dropped(1), 3);
        assert_eq!(p.dropped(2), 1);
        assert_eq!(p.dropped(3), 0);
        assert!((p.dropped_share(2) - 1.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn repeat_detector() {
        let mut d = RepeatDetector::default();
        for v in ["x", "y", "z"] {
            d.push(v);
        }
        assert!(!d.repeated());
        d.push("y");
        assert!(d.repeated());
    }
}
