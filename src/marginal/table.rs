//! Marginal tables: counts (exact or noisy) over the cells of a clique.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use serde::{Deserialize, Serialize};

use super::{Clique, Domain};

/// A table over a clique, stored flat in row-major order (the clique's last attribute
/// varies fastest). Values are f64 so that exact counts, noisy counts and model
/// marginals share one type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarginalTable {
    pub clique: Clique,
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

impl MarginalTable {
    pub fn zeros(clique: Clique, domain: &Domain) -> Self {
        let shape = clique.shape(domain);
        let n = shape.iter().product();
        MarginalTable { clique, shape, values: vec![0.0; n] }
    }

    /// Wraps values already laid out for `clique`; `None` if the length does not fit.
    pub fn from_values(clique: Clique, domain: &Domain, values: Vec<f64>) -> Option<Self> {
        let shape = clique.shape(domain);
        (shape.iter().product::<usize>() == values.len()).then_some(MarginalTable { clique, shape, values })
    }

    pub fn cells(&self) -> usize {
        self.values.len()
    }

    pub fn total(&self) -> f64 {
        self.values.iter().sum()
    }

    pub fn view(&self) -> ArrayViewD<'_, f64> {
        // Shape and length agree by construction.
        ArrayViewD::from_shape(IxDyn(&self.shape), &self.values).expect("shape matches values")
    }

    /// Sums out every attribute not in `sub`. `sub` must be a subset of this clique.
    pub fn project(&self, sub: &Clique) -> MarginalTable {
        assert!(sub.is_subset_of(&self.clique), "projection onto a sub-clique");
        let mut arr: ArrayD<f64> = self.view().to_owned();
        // Remove axes from the back so earlier axis numbers stay valid.
        for (axis, attr) in self.clique.attrs().iter().enumerate().rev() {
            if !sub.contains(*attr) {
                arr = arr.sum_axis(Axis(axis));
            }
        }
        let shape = arr.shape().to_vec();
        let values = arr.as_standard_layout().iter().copied().collect();
        MarginalTable { clique: sub.clone(), shape, values }
    }

    /// The table scaled to sum to one (all zeros stay zeros).
    pub fn normalized(&self) -> Vec<f64> {
        let t = self.total();
        if t <= 0.0 {
            return vec![0.0; self.values.len()];
        }
        self.values.iter().map(|v| v / t).collect()
    }

    /// L1 distance between the normalised versions of two tables over the same clique.
    pub fn l1_normalized(&self, other: &MarginalTable) -> f64 {
        assert_eq!(self.clique, other.clique);
        self.normalized()
            .iter()
            .zip(other.normalized())
            .map(|(a, b)| (a - b).abs())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_sums_out_axes() {
        let d = Domain::from_sizes(vec![2, 3, 2]);
        let c = Clique::new([0, 1, 2]);
        let t = MarginalTable::from_values(c, &d, (0..12).map(|x| x as f64).collect()).unwrap();
        let p = t.project(&Clique::new([1]));
        // cells (a,b,c) -> value 6a + 2b + c
        assert_eq!(p.values, vec![0.0 + 1.0 + 6.0 + 7.0, 2.0 + 3.0 + 8.0 + 9.0, 4.0 + 5.0 + 10.0 + 11.0]);
        let p02 = t.project(&Clique::new([0, 2]));
        assert_eq!(p02.values, vec![0.0 + 2.0 + 4.0, 1.0 + 3.0 + 5.0, 6.0 + 8.0 + 10.0, 7.0 + 9.0 + 11.0]);
        assert_eq!(t.project(&Clique::empty()).values, vec![66.0]);
    }
}
