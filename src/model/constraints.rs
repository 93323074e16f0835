//! Structural zeros: cells of the domain no record may occupy, because no value in them can
//! satisfy the schema's public rules (`schema::rules`).
//!
//! The model is fitted and sampled with them: each mask's clique joins the junction tree, and
//! the log-potential of every forbidden cell is held at [`LOG_ZERO`] throughout estimation,
//! so the fitted distribution gives those cells probability exactly zero and its mass goes to
//! the cells that are allowed (rather than being thrown away by rejecting records). The
//! masks are public (a function of the schema), so fitting with them is post-processing of
//! the noisy measurements (proofs/rules.md).

use std::collections::BTreeMap;

use crate::marginal::{Clique, Domain};
use crate::schema::Schema;

use super::inference::Engine;
use super::layout::SubsetLayout;
use super::ModelError;

/// The log-potential of a forbidden cell: `exp(LOG_ZERO + x)` is exactly 0 for any finite `x`
/// the model produces, while sums and differences of it stay finite (unlike minus infinity,
/// which would turn a fully forbidden slice into NaN).
pub const LOG_ZERO: f64 = -1e30;

/// One mask: which cells of a clique's joint domain are allowed (row-major, like a
/// `MarginalTable`).
#[derive(Clone, Debug, PartialEq)]
pub struct ZeroFactor {
    pub clique: Clique,
    pub allowed: Vec<bool>,
}

/// Every structural zero of a domain, as masks on cliques.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StructuralZeros {
    factors: Vec<ZeroFactor>,
}

impl StructuralZeros {
    /// No structural zeros.
    pub fn none() -> Self {
        StructuralZeros::default()
    }

    /// Masks over `domain` (checked: attributes in range, one flag per cell).
    pub fn new(domain: &Domain, factors: Vec<ZeroFactor>) -> Result<Self, ModelError> {
        for f in &factors {
            if let Some(&a) = f.clique.attrs().iter().find(|&&a| a >= domain.len()) {
                return Err(ModelError::AttributeOutOfRange {
                    attr: a,
                    attrs: domain.len(),
                });
            }
            let cells = f.clique.cells(domain);
            if f.allowed.len() != cells {
                return Err(ModelError::ShapeMismatch {
                    clique: f.clique.clone(),
                    expected: cells,
                    got: f.allowed.len(),
                });
            }
        }
        Ok(StructuralZeros { factors })
    }

    /// The structural zeros of a schema's rules over its modelled columns (in
    /// `Schema::modelled` order, the domain every mechanism sees).
    pub fn from_schema(schema: &Schema) -> Result<Self, crate::schema::SchemaError> {
        if schema.rules().is_empty() {
            return Ok(StructuralZeros::none());
        }
        let masks = schema.compiled_rules()?.zero_masks();
        Ok(StructuralZeros {
            factors: masks
                .into_iter()
                .map(|m| ZeroFactor {
                    clique: Clique::new(m.columns),
                    allowed: m.allowed,
                })
                .collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.factors.is_empty()
    }

    /// The structural zeros a fitted model holds: every cell of a model clique whose
    /// log-potential is at [`LOG_ZERO`] (or below half of it) is forbidden. A refit of the
    /// model's measurements (the error bars' bootstrap) must keep them: without them it
    /// would start from potentials of `-1e30` that nothing holds in place, and the
    /// accelerated fit's extrapolation can drive them to infinity and the answers to NaN.
    /// Reads the model only (post-processing; proofs/rules.md).
    pub fn from_model(model: &super::GraphicalModel) -> StructuralZeros {
        let factors = model
            .cliques()
            .iter()
            .zip(model.raw_potentials())
            .filter(|(_, pot)| pot.iter().any(|&x| x <= LOG_ZERO / 2.0))
            .map(|(c, pot)| ZeroFactor {
                clique: c.clone(),
                allowed: pot.iter().map(|&x| x > LOG_ZERO / 2.0).collect(),
            })
            .collect();
        StructuralZeros { factors }
    }

    pub fn factors(&self) -> &[ZeroFactor] {
        &self.factors
    }

    /// The masks' cliques: the junction tree must hold each inside one of its cliques.
    pub fn cliques(&self) -> Vec<Clique> {
        self.factors.iter().map(|f| f.clique.clone()).collect()
    }

    /// The zeros over a coarser domain whose code `k` of attribute `a` stands for the codes
    /// `groups[a][k]` of this one: a merged cell is allowed when any cell it stands for is.
    /// Masks that forbid nothing after merging are dropped.
    pub fn merge(&self, groups: &[Vec<Vec<u32>>]) -> StructuralZeros {
        let factors = self
            .factors
            .iter()
            .filter_map(|f| {
                let attrs = f.clique.attrs();
                // forward[k][old code] = new code
                let forward: Vec<Vec<usize>> = attrs
                    .iter()
                    .map(|&a| {
                        let n: usize = groups[a].iter().map(Vec::len).sum();
                        let mut fwd = vec![0usize; n];
                        for (new, olds) in groups[a].iter().enumerate() {
                            for &o in olds {
                                fwd[o as usize] = new;
                            }
                        }
                        fwd
                    })
                    .collect();
                let new_cards: Vec<usize> = attrs.iter().map(|&a| groups[a].len()).collect();
                let old_cards: Vec<usize> = forward.iter().map(Vec::len).collect();
                let mut allowed = vec![false; new_cards.iter().product()];
                let mut idx = vec![0usize; attrs.len()];
                for &ok in &f.allowed {
                    if ok {
                        let cell = idx
                            .iter()
                            .enumerate()
                            .fold(0, |acc, (k, &o)| acc * new_cards[k] + forward[k][o]);
                        allowed[cell] = true;
                    }
                    for k in (0..idx.len()).rev() {
                        idx[k] += 1;
                        if idx[k] < old_cards[k] {
                            break;
                        }
                        idx[k] = 0;
                    }
                }
                (!allowed.iter().all(|&a| a)).then(|| ZeroFactor {
                    clique: f.clique.clone(),
                    allowed,
                })
            })
            .collect();
        StructuralZeros { factors }
    }

    /// Whether a record (one code per attribute) lies in an allowed cell of every mask.
    pub fn allows(&self, domain: &Domain, record: &[u32]) -> bool {
        self.factors
            .iter()
            .all(|f| f.allowed[f.cell_of(domain, record)])
    }

    /// Positions in the engine's clique vector of every forbidden cell (sorted, deduplicated).
    pub(crate) fn tree_zeros(&self, domain: &Domain, engine: &Engine) -> Vec<usize> {
        let mut out = Vec::new();
        for f in &self.factors {
            // Triangulation included the mask's clique, so some tree clique holds it.
            let Some(home) = engine.tree.containing(domain, &f.clique) else {
                continue;
            };
            let tc = &engine.tree.cliques()[home];
            let layout =
                SubsetLayout::for_attrs(tc.attrs(), &engine.shapes[home], f.clique.attrs());
            let off = engine.range(home).start;
            layout.for_each_cell(|big, small| {
                if !f.allowed[small] {
                    out.push(off + big);
                }
            });
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// For every attribute in some mask: the masks (by index) over it.
    pub fn by_attribute(&self) -> BTreeMap<usize, Vec<usize>> {
        let mut m: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, f) in self.factors.iter().enumerate() {
            for &a in f.clique.attrs() {
                m.entry(a).or_default().push(i);
            }
        }
        m
    }
}

impl ZeroFactor {
    /// The mask cell of a record.
    pub fn cell_of(&self, domain: &Domain, record: &[u32]) -> usize {
        self.clique
            .attrs()
            .iter()
            .fold(0, |acc, &a| acc * domain.size(a) + record[a] as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{estimate, sample, EstimationOptions, Measurement, SamplingMethod};
    use std::sync::Arc;

    #[test]
    fn merging_keeps_a_cell_when_any_original_cell_is_allowed() {
        let d = Domain::from_sizes(vec![3, 2]);
        // Forbid (0,1), (1,1), (2,0).
        let z = StructuralZeros::new(
            &d,
            vec![ZeroFactor {
                clique: Clique::new([0, 1]),
                allowed: vec![true, false, true, false, false, true],
            }],
        )
        .unwrap();
        assert!(!z.allows(&d, &[2, 0]) && z.allows(&d, &[2, 1]));
        // Merge codes 1 and 2 of attribute 0.
        let groups = vec![vec![vec![0], vec![1, 2]], vec![vec![0], vec![1]]];
        let m = z.merge(&groups);
        assert_eq!(m.factors()[0].allowed, vec![true, false, true, true]);
        // Merging everything of attribute 1 leaves nothing forbidden.
        let all = vec![vec![vec![0], vec![1, 2]], vec![vec![0, 1]]];
        assert!(z.merge(&all).is_empty());
        assert!(StructuralZeros::new(
            &d,
            vec![ZeroFactor {
                clique: Clique::new([0, 1]),
                allowed: vec![true; 5],
            }]
        )
        .is_err());
    }

    #[test]
    fn fitted_model_and_samples_respect_the_zeros() {
        // Two attributes measured as one-ways only (independent model), with the pairs
        // (0,0) and (1,1) forbidden: the model must move their mass to the allowed cells.
        let d = Domain::from_sizes(vec![2, 3]);
        let zeros = StructuralZeros::new(
            &d,
            vec![ZeroFactor {
                clique: Clique::new([0, 1]),
                allowed: vec![false, true, true, true, false, true],
            }],
        )
        .unwrap();
        let ms = vec![
            Measurement::new(Clique::new([0]), vec![600.0, 400.0], 5.0),
            Measurement::new(Clique::new([1]), vec![300.0, 300.0, 400.0], 5.0),
        ];
        let opts = EstimationOptions {
            zeros: Some(Arc::new(zeros.clone())),
            ..Default::default()
        };
        let (m, _) = estimate(&d, &ms, &opts, None).unwrap();
        let p = m.project(&Clique::new([0, 1]));
        assert_eq!(p.values[0], 0.0);
        assert_eq!(p.values[4], 0.0);
        // The one-ways are still matched closely.
        let p0 = m.project(&Clique::new([0]));
        assert!((p0.values[0] - 600.0).abs() < 5.0, "{:?}", p0.values);
        for method in [SamplingMethod::Rounding, SamplingMethod::Forward] {
            let cols = sample(&m, 5000, 7, method);
            for (r, (&a, &b)) in cols[0].iter().zip(&cols[1]).enumerate() {
                assert!(zeros.allows(&d, &[a, b]), "{method:?} row {r}");
            }
        }
        // A model file keeps the zeros.
        let back: crate::model::GraphicalModel =
            serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.project(&Clique::new([0, 1])).values[4], 0.0);
        // ... and gives them back: exactly the forbidden cells, on the model's clique.
        let held = StructuralZeros::from_model(&back);
        assert_eq!(held.factors().len(), 1);
        assert_eq!(held.factors()[0].allowed, zeros.factors()[0].allowed);
        assert!(StructuralZeros::from_model(
            &estimate(&d, &ms, &Default::default(), None).unwrap().0
        )
        .is_empty());
    }
}
