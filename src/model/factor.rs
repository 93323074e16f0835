//! Factors: functions of the cells of a clique, flat row-major `Vec<f64>`, usually in log
//! space (log-potentials and log-beliefs).
//!
//! The estimator works on whole junction trees at once through [`super::layout`]; this type
//! is the user-facing, allocation-per-call version of the same operations, used for
//! potentials in the serialised model, warm starts and model queries.

use serde::{Deserialize, Serialize};

use super::layout::SubsetLayout;
use crate::marginal::{Clique, Domain};

/// A table over the cells of `clique` (row-major, last attribute fastest). In log space it
/// is a log-potential: a product of factors is a sum of tables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub clique: Clique,
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

impl Factor {
    /// The zero log-potential (uniform) over `clique`.
    pub fn zeros(clique: Clique, domain: &Domain) -> Self {
        let shape = clique.shape(domain);
        let n = shape.iter().product();
        Factor {
            clique,
            shape,
            values: vec![0.0; n],
        }
    }

    /// Wraps values laid out for `clique`; `None` if the length does not fit.
    pub fn from_values(clique: Clique, domain: &Domain, values: Vec<f64>) -> Option<Self> {
        let shape = clique.shape(domain);
        (shape.iter().product::<usize>() == values.len()).then_some(Factor {
            clique,
            shape,
            values,
        })
    }

    pub fn cells(&self) -> usize {
        self.values.len()
    }

    fn layout_of(&self, sub: &Clique) -> SubsetLayout {
        assert!(
            sub.is_subset_of(&self.clique),
            "{sub:?} is not a subset of {:?}",
            self.clique
        );
        SubsetLayout::for_attrs(self.clique.attrs(), &self.shape, sub.attrs())
    }

    /// Adds `other` (over a subset of this clique) broadcast to every cell: the product of
    /// the two factors in log space, kept over this clique.
    pub fn add_assign_sub(&mut self, other: &Factor) {
        let layout = self.layout_of(&other.clique);
        layout.add_expanded(&mut self.values, &other.values);
    }

    /// This factor broadcast to a superset clique (constant along the new attributes).
    pub fn expand(&self, superset: &Clique, domain: &Domain) -> Factor {
        let mut out = Factor::zeros(superset.clone(), domain);
        out.add_assign_sub(self);
        out
    }

    /// Product in log space over the union of the two cliques.
    pub fn product(&self, other: &Factor, domain: &Domain) -> Factor {
        let union = self.clique.union(&other.clique);
        let mut out = self.expand(&union, domain);
        out.add_assign_sub(other);
        out
    }

    /// Marginalisation in log space: log-sum-exp over the attributes not in `sub`.
    pub fn logsumexp_onto(&self, sub: &Clique) -> Factor {
        let layout = self.layout_of(sub);
        let mut values = vec![0.0; layout.small_cells()];
        layout.logsumexp_into(&self.values, &mut values, &mut Vec::new());
        let shape = self
            .clique
            .attrs()
            .iter()
            .zip(&self.shape)
            .filter(|(a, _)| sub.contains(**a))
            .map(|(_, &s)| s)
            .collect();
        Factor {
            clique: sub.clone(),
            shape,
            values,
        }
    }

    /// Marginalisation of a table of probabilities or counts: plain sums.
    pub fn sum_onto(&self, sub: &Clique) -> Factor {
        let layout = self.layout_of(sub);
        let mut values = vec![0.0; layout.small_cells()];
        layout.sum_into(&self.values, &mut values);
        let shape = self
            .clique
            .attrs()
            .iter()
            .zip(&self.shape)
            .filter(|(a, _)| sub.contains(**a))
            .map(|(_, &s)| s)
            .collect();
        Factor {
            clique: sub.clone(),
            shape,
            values,
        }
    }

    /// `log sum_x exp(values[x])`, the log-partition function of this factor alone.
    pub fn log_partition(&self) -> f64 {
        self.logsumexp_onto(&Clique::empty()).values[0]
    }
}

impl Factor {
    /// Divides a table of probabilities by its own marginal on `sub` (a conditional
    /// distribution given `sub`); cells whose marginal is zero become zero.
    pub(crate) fn conditional_on(&mut self, sub: &Clique) {
        let m = self.sum_onto(sub);
        let inv: Vec<f64> = m
            .values
            .iter()
            .map(|&v| if v > 0.0 { 1.0 / v } else { 0.0 })
            .collect();
        let l = self.layout_of(sub);
        l.mul_expanded(&mut self.values, &inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_then_marginal_matches_brute_force() {
        let d = Domain::from_sizes(vec![2, 3, 4]);
        let a = Factor::from_values(
            Clique::new([0, 1]),
            &d,
            (0..6).map(|x| x as f64 * 0.1).collect(),
        )
        .unwrap();
        let b = Factor::from_values(
            Clique::new([1, 2]),
            &d,
            (0..12).map(|x| (x as f64).cos()).collect(),
        )
        .unwrap();
        let p = a.product(&b, &d);
        assert_eq!(p.clique.attrs(), &[0, 1, 2]);
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    let want = a.values[i * 3 + j] + b.values[j * 4 + k];
                    assert!((p.values[i * 12 + j * 4 + k] - want).abs() < 1e-15);
                }
            }
        }
        let m = p.logsumexp_onto(&Clique::new([0, 2]));
        for i in 0..2 {
            for k in 0..4 {
                let want: f64 = (0..3)
                    .map(|j| (a.values[i * 3 + j] + b.values[j * 4 + k]).exp())
                    .sum::<f64>()
                    .ln();
                assert!((m.values[i * 4 + k] - want).abs() < 1e-12);
            }
        }
        let z: f64 = p.values.iter().map(|v| v.exp()).sum::<f64>().ln();
        assert!((p.log_partition() - z).abs() < 1e-12);
    }
}
