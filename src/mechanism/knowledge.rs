//! Public knowledge from the schema that shapes a fit beyond the domain's sizes: columns with
//! automatic bins (`bins = "auto"`) and the rules (structural zeros).
//!
//! Automatic bins: such a column's codes are a fine public grid. MST and AIM measure every
//! one-way marginal anyway; from those noisy counts this module merges the grid into
//! contiguous bins of roughly equal mass, and the rest of the mechanism runs on the merged
//! domain. The merge reads only noisy counts and public facts (the grid, `max_bins`, sigma),
//! so it is post-processing (proofs/mst.md and proofs/aim.md, "Automatic bins").
//!
//! Rules: their structural zeros are computed on the schema as the model's codes decode
//! (automatic bins merged) and carried to the compressed domain by
//! [`StructuralZeros::merge`]; estimation holds them at probability zero.

use std::sync::Arc;

use crate::data::Density;
use crate::model::StructuralZeros;
use crate::schema::{ColumnKind, Schema};

use super::compress::Compression;
use super::MechanismError;

/// What a mechanism knows from the schema besides the domain's sizes. The default knows
/// nothing (no automatic bins, no rules): the behaviour of a bare domain.
#[derive(Clone, Debug, Default)]
pub struct SchemaKnowledge {
    schema: Option<Arc<Schema>>,
}

/// One automatic-bin column: its modelled index, fine cells and most merged bins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AutoColumn {
    attr: usize,
    cells: usize,
    max_bins: usize,
}

/// A merged bin should carry at least this many noise standard deviations of mass: enough
/// that the bin's own count is clearly above its noise.
const MIN_SIGMAS_PER_BIN: f64 = 10.0;

impl SchemaKnowledge {
    pub fn from_schema(schema: &Schema) -> Self {
        SchemaKnowledge {
            schema: Some(Arc::new(schema.clone())),
        }
    }

    fn auto_columns(&self) -> Vec<AutoColumn> {
        let Some(s) = &self.schema else {
            return Vec::new();
        };
        s.modelled()
            .iter()
            .enumerate()
            .filter_map(|(attr, c)| match c.kind() {
                ColumnKind::Integer(b) | ColumnKind::Float(b) => b.auto().map(|a| AutoColumn {
                    attr,
                    cells: b.n_bins(),
                    max_bins: a.max_bins,
                }),
                _ => None,
            })
            .collect()
    }

    /// Per modelled column, how many of its first codes are bins in increasing order (0 for
    /// a categorical column, and for every column of a bare domain). Public: the schema.
    pub fn ordered_codes(&self) -> Vec<usize> {
        self.schema
            .as_ref()
            .map(|s| s.modelled().iter().map(|c| c.n_bins()).collect())
            .unwrap_or_default()
    }

    /// `c` with every column that a structural zero of the rules involves left uncompressed
    /// (each code its own group; automatic bins still merge afterwards). Merging rare values
    /// blurs a mask: a merged code is allowed wherever any value it stands for is, so the
    /// model can no longer tell, say, which admission months a discharge month excludes, and
    /// decoding has to redraw values inside merged codes. On the demo (AIM, epsilon 1, 10 runs
    /// each) the 3-way L1 with its rules was 0.291 with the date columns merged and 0.231
    /// unmerged, while without rules merging them helps (0.289 merged, 0.313 unmerged).
    /// Which columns: a function of the public schema only.
    pub fn keep_rule_columns(&self, mut c: Compression) -> Compression {
        for a in self.rule_columns() {
            if let Some(groups) = c.groups.get_mut(a) {
                let n: usize = groups.iter().map(Vec::len).sum();
                *groups = (0..n as u32).map(|k| vec![k]).collect();
                c.weights[a] = vec![vec![1.0]; n];
            }
        }
        c
    }

    /// `c` with the spread weights of every merged run of adjacent bins (a number or date
    /// column, [`Compression::from_noisy_one_ways_ordered`]) taken from the within-bin
    /// density decoding uses (`data::Density`: continuous with the neighbouring bins,
    /// tapering in an end bin), built on the compressed bins and their noisy masses, instead
    /// of each bin's own clamped noisy count. A run holds bins whose counts are each below 3
    /// noise standard deviations, so those counts say little about how the run's mass
    /// divides: on the demo's creatinine, the run "3-5" + "5-25" (real counts 237 and 38,
    /// sigma 108) gave the wide top bin up to 45% of the run, and the synthetic standard
    /// deviation 1.8 times the real one. Post-processing of the noisy one-ways `noisy` and
    /// the public schema.
    pub fn smooth_run_weights(&self, noisy: &[Vec<f64>], mut c: Compression) -> Compression {
        let Some(schema) = &self.schema else {
            return c;
        };
        let merged = c.merged_bins();
        for (a, col) in schema.modelled().iter().enumerate() {
            let n = col.n_bins();
            let (Some(axis), Some(y)) = (col.axis(), noisy.get(a)) else {
                continue;
            };
            if n < 2 || merged.get(a).copied().unwrap_or(false) || y.len() < n {
                continue;
            }
            // The compressed codes standing for bins, in order of their bins.
            let mut bin_groups: Vec<usize> = (0..c.groups[a].len())
                .filter(|&g| c.groups[a][g].first().is_some_and(|&k| (k as usize) < n))
                .collect();
            if bin_groups.iter().all(|&g| c.groups[a][g].len() == 1) {
                continue;
            }
            bin_groups.sort_by_key(|&g| c.groups[a][g][0]);
            let span = |k: u32| col.density_span(k);
            let mut spans = Vec::with_capacity(bin_groups.len());
            let mut masses = Vec::with_capacity(bin_groups.len());
            for &g in &bin_groups {
                let members = &c.groups[a][g];
                let (Some(lo), Some(hi)) = (
                    members.first().and_then(|&k| span(k)),
                    members.last().and_then(|&k| span(k)),
                ) else {
                    return c;
                };
                spans.push((lo.0, hi.1));
                masses.push(members.iter().map(|&k| y[k as usize]).sum::<f64>());
            }
            let scale = col.bins().map(|b| b.scale()).unwrap_or_default();
            let density = Density::new(axis, scale, &spans, &masses);
            for &g in &bin_groups {
                let members = c.groups[a][g].clone();
                if members.len() < 2 {
                    continue;
                }
                let w: Option<Vec<f64>> = members
                    .iter()
                    .map(|&k| span(k).map(|(lo, hi)| density.mass_between(lo, hi).max(0.0)))
                    .collect();
                if let Some(w) = w.filter(|w| w.iter().sum::<f64>() > 0.0) {
                    c.weights[a][g] = w;
                }
            }
        }
        c
    }

    /// The modelled columns some structural zero of the rules involves (public).
    fn rule_columns(&self) -> Vec<usize> {
        let Some(schema) = &self.schema else {
            return Vec::new();
        };
        if schema.rules().is_empty() {
            return Vec::new();
        }
        StructuralZeros::from_schema(schema)
            .map(|z| z.by_attribute().into_keys().collect())
            .unwrap_or_default()
    }

    /// Whether some column has automatic bins.
    pub fn has_auto_bins(&self) -> bool {
        !self.auto_columns().is_empty()
    }

    /// Whether the schema has rules.
    pub fn has_rules(&self) -> bool {
        self.schema.as_ref().is_some_and(|s| !s.rules().is_empty())
    }

    /// `base` (a compression of every column) with each automatic-bin column replaced by its
    /// grid merged into contiguous bins of roughly equal noisy mass. `noisy` are the noisy
    /// one-way counts over the original codes, measured with standard deviation `sigma`.
    /// Post-processing of the noisy counts.
    pub fn merge_auto_bins(
        &self,
        noisy: &[Vec<f64>],
        sigma: f64,
        base: Compression,
    ) -> Compression {
        let mut c = base;
        let rules = self
            .schema
            .as_ref()
            .filter(|s| !s.rules().is_empty())
            .and_then(|s| s.compiled_rules().ok());
        for a in self.auto_columns() {
            let y = &noisy[a.attr];
            let mut runs = equal_mass_runs(&y[..a.cells], a.max_bins, sigma);
            // Cut where a rule compares the column with a value on a grid edge (public).
            if let Some(r) = &rules {
                runs = cut_runs(runs, &r.decided_cuts(a.attr, a.cells));
            }
            // The merged bins, then every other code (special values, missing) on its own.
            let mut groups: Vec<Vec<u32>> = runs;
            groups.extend((a.cells..y.len()).map(|k| vec![k as u32]));
            c.weights[a.attr] = groups.iter().map(|g| vec![1.0; g.len()]).collect();
            c.groups[a.attr] = groups;
            c.set_merged_bins(a.attr);
        }
        c
    }

    /// The structural zeros of the rules over the compressed domain of `compression` (None
    /// when there are no rules or they forbid no cell).
    pub fn zeros(
        &self,
        compression: &Compression,
    ) -> Result<Option<Arc<StructuralZeros>>, MechanismError> {
        let Some(schema) = &self.schema else {
            return Ok(None);
        };
        if schema.rules().is_empty() {
            return Ok(None);
        }
        let eff = effective_schema(schema, compression)?;
        let zeros = StructuralZeros::from_schema(&eff)
            .map_err(|e| MechanismError::Rules(e.to_string()))?
            .merge(&compression.groups_after_decoding());
        Ok((!zeros.is_empty()).then(|| Arc::new(zeros)))
    }
}

/// The schema as a fitted model's codes decode: every automatic-bin column's fine grid merged
/// into the bins `compression` chose.
pub fn effective_schema(
    schema: &Schema,
    compression: &Compression,
) -> Result<Schema, MechanismError> {
    let mut out = schema.clone();
    for (attr, merged) in compression.merged_bins().iter().enumerate() {
        if !merged {
            continue;
        }
        let col = schema.modelled().get(attr).map(|c| c.n_bins()).unwrap_or(0);
        let runs: Vec<Vec<u32>> = compression.groups[attr]
            .iter()
            .filter(|g| g.first().is_some_and(|&k| (k as usize) < col))
            .cloned()
            .collect();
        out = out.with_merged_bins(attr, &runs).ok_or_else(|| {
            MechanismError::Rules(format!(
                "the model's merged bins for column {attr} do not fit the schema"
            ))
        })?;
    }
    Ok(out)
}

/// `runs` (contiguous runs of codes, in order) split further at each code in `cuts` (a run
/// holding codes `i - 1` and `i` is cut between them).
fn cut_runs(runs: Vec<Vec<u32>>, cuts: &[usize]) -> Vec<Vec<u32>> {
    let mut out = Vec::with_capacity(runs.len() + cuts.len());
    for run in runs {
        let mut cur: Vec<u32> = Vec::new();
        for k in run {
            if !cur.is_empty() && cuts.contains(&(k as usize)) {
                out.push(std::mem::take(&mut cur));
            }
            cur.push(k);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

/// Splits the fine cells with noisy counts `y` into contiguous runs of roughly equal mass:
/// `K = clamp(total / (10 sigma), 1, max_bins)` runs. Each run's target is the mass not yet
/// in a run divided by the runs still to make, so a heavy cell does not use up later runs'
/// shares; a run closes after the cell that reaches its target, or before that cell when
/// the run is nearer its target without it. A heavy cell (a point mass such as zero
/// incomes) thus gets a run of its own instead of joining light cells whose range the
/// within-bin density would spread its mass over. Runs are never empty. A function of the
/// noisy counts and public inputs (proofs/mst.md, step 2).
pub fn equal_mass_runs(y: &[f64], max_bins: usize, sigma: f64) -> Vec<Vec<u32>> {
    let n = y.len();
    if n == 0 {
        return Vec::new();
    }
    let total: f64 = y.iter().sum::<f64>().max(0.0);
    let by_noise = if sigma > 0.0 && sigma.is_finite() {
        (total / (MIN_SIGMAS_PER_BIN * sigma)).floor() as usize
    } else {
        n
    };
    let k = by_noise.clamp(1, max_bins.max(1)).min(n);
    let mut cuts: Vec<usize> = Vec::with_capacity(k);
    // Noisy mass of the closed runs and of the open one.
    let (mut done, mut run, mut open) = (0.0, 0.0, false);
    // Never below the mass a bin should carry over its noise (the first rule's 10 sigma):
    // once heavy cells have taken their runs, the light tail would otherwise be cut into
    // bins whose counts are mostly noise.
    let floor = if sigma.is_finite() {
        MIN_SIGMAS_PER_BIN * sigma.max(0.0)
    } else {
        0.0
    };
    let target = |done: f64, cuts: &[usize]| {
        let left = k - cuts.len();
        (left > 1).then(|| ((total - done) / left as f64).max(floor))
    };
    for (i, &v) in y.iter().enumerate() {
        if let Some(t) = target(done, &cuts).filter(|&t| t > 0.0) {
            if open && run + v >= t && t - run < run + v - t {
                cuts.push(i);
                done += run;
                run = 0.0;
            }
        }
        run += v;
        open = true;
        if let Some(t) = target(done, &cuts).filter(|&t| t > 0.0) {
            if run >= t && i + 1 < n {
                cuts.push(i + 1);
                done += run;
                run = 0.0;
                open = false;
            }
        }
    }
    let mut runs = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&n)) {
        if c > start {
            runs.push((start as u32..c as u32).collect());
            start = c;
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merged_tail_run_splits_by_the_tapered_density() {
        let schema = Schema::from_toml_str(
            r#"
[[columns]]
name = "lab"
kind = "float"
min = 0.0
max = 25.0
bin_edges = [1.0, 2.0, 3.0, 5.0]
"#,
            "t.toml",
        )
        .unwrap();
        let k = SchemaKnowledge::from_schema(&schema);
        // Bins 0-1, 1-2, 2-3, 3-5, 5-25; the last two are rare (threshold 30) and the
        // noise gave the wide top bin almost as much as its neighbour.
        let noisy = vec![vec![400.0, 300.0, 200.0, 25.0, 20.0]];
        let c = Compression::from_noisy_one_ways_ordered(&noisy, 30.0, &k.ordered_codes());
        assert_eq!(c.groups[0][3], vec![3, 4]);
        assert_eq!(c.weights[0][3], vec![25.0, 20.0]);
        let c = k.smooth_run_weights(&noisy, c);
        let w = &c.weights[0][3];
        let top = w[1] / (w[0] + w[1]);
        // The density decays from the height of bin 2-3 (200 a unit): the run's 45 records
        // mostly fall just above 3, so the top bin's share is far below the noisy 44%.
        assert!(top < 0.15, "{w:?}");
        assert!(w.iter().all(|x| x.is_finite() && *x >= 0.0));
        // Unmerged bins and schemas without numbers are left alone.
        assert_eq!(c.weights[0][0], vec![400.0]);
        let none = SchemaKnowledge::default().smooth_run_weights(&noisy, c.clone());
        assert_eq!(none, c);
    }

    #[test]
    fn columns_in_a_rule_stay_unmerged() {
        let schema = Schema::from_toml_str(
            r#"
[[columns]]
name = "admitted"
kind = "integer"
min = 0
max = 59
bin_width = 10

[[columns]]
name = "discharged"
kind = "integer"
min = 0
max = 59
bin_width = 10

[[columns]]
name = "ward"
kind = "categorical"
values = ["a", "b", "c"]

[[rules]]
check = "discharged >= admitted"
"#,
            "t.toml",
        )
        .unwrap();
        let k = SchemaKnowledge::from_schema(&schema);
        // Bins 0, 1, 4, 5 and ward "c" are rare: merged, and the ordered columns in runs.
        let noisy = vec![
            vec![1.0, 1.0, 50.0, 50.0, 1.0, 1.0],
            vec![1.0, 1.0, 50.0, 50.0, 1.0, 1.0],
            vec![50.0, 50.0, 1.0],
        ];
        let c = Compression::from_noisy_one_ways_ordered(&noisy, 3.0, &k.ordered_codes());
        assert_eq!(c.groups[0].len(), 4);
        assert_eq!(c.groups[2].len(), 3);
        let c = k.keep_rule_columns(c);
        // The rule's columns are back to one code per bin; the ward is untouched.
        for a in 0..2 {
            assert_eq!(c.groups[a], (0..6).map(|x| vec![x]).collect::<Vec<_>>());
            assert_eq!(c.weights[a].len(), 6);
        }
        assert_eq!(c.groups[2], vec![vec![0], vec![1], vec![2]]);
        // No rules, nothing kept.
        let c2 = SchemaKnowledge::default()
            .keep_rule_columns(Compression::from_noisy_one_ways(&noisy, 3.0));
        assert_eq!(c2.groups[0].len(), 3);
    }

    #[test]
    fn automatic_bins_cut_where_a_rule_compares_on_a_grid_edge() {
        // Age on a grid of 20 cells of 5 years; the rules compare it with 15 (a grid edge)
        // and 16 (inside a cell). Much noise: equal mass alone gives one bin, which would
        // leave "age < 15" undecided inside it and join both rules over age.
        let schema = Schema::from_toml_str(
            r#"
[[columns]]
name = "age"
kind = "integer"
min = 0
max = 100
bins = "auto"
grid = 20

[[columns]]
name = "income"
kind = "categorical"
values = ["low", "high"]
missing = "category"

[[columns]]
name = "job"
kind = "categorical"
values = ["a", "b"]
missing = "category"

[[rules]]
check = "income is missing iff age < 15"

[[rules]]
check = "age < 16 implies job is missing"
"#,
            "t.toml",
        )
        .unwrap();
        let k = SchemaKnowledge::from_schema(&schema);
        let cells = schema.modelled()[0].n_bins();
        let noisy = vec![vec![10.0; cells], vec![10.0; 3], vec![10.0; 3]];
        let c = Compression::from_noisy_one_ways(&noisy, 0.0);
        let c = k.merge_auto_bins(&noisy, 1e6, c);
        let runs = &c.groups[0];
        let edge = (0..cells as u32)
            .find(|&i| {
                schema.modelled()[0].code_value(i).is_some_and(|v| match v {
                    crate::schema::CodeValue::Values(s) => s.hull().is_some_and(|h| h.lo >= 15.0),
                    _ => false,
                })
            })
            .unwrap();
        assert!(runs.iter().any(|r| r[0] == edge), "{runs:?}");
        assert_eq!(runs.len(), 2, "{runs:?}");
        // The merged schema keeps the two rules apart (one mask each).
        let eff = effective_schema(&schema, &c).unwrap();
        assert_eq!(eff.compiled_rules().unwrap().components().len(), 2);
        assert_eq!(
            cut_runs(vec![vec![0, 1, 2, 3]], &[2]),
            vec![vec![0, 1], vec![2, 3]]
        );
    }

    #[test]
    fn equal_mass_runs_split_by_noisy_mass() {
        // 8 cells, mass concentrated at the start.
        let y = [40.0, 40.0, 10.0, 5.0, 3.0, 1.0, 0.5, 0.5];
        let r = equal_mass_runs(&y, 4, 0.1);
        // Targets 25, then the rest over the runs left: 60 / 3 = 20, 20 / 2 = 10.
        assert_eq!(
            r,
            vec![vec![0], vec![1], vec![2], (3..8).collect::<Vec<u32>>()]
        );
        // A heavy cell after light ones starts its own run (closing the light run before
        // it) instead of being merged with them.
        let spike = [1.0, 1.0, 1.0, 60.0, 10.0, 10.0, 10.0, 7.0];
        let r = equal_mass_runs(&spike, 4, 0.1);
        assert_eq!(r[0], vec![0, 1, 2], "{r:?}");
        assert_eq!(r[1], vec![3], "{r:?}");
        // After a heavy head the light tail is not cut into bins below 10 sigma of mass.
        let mut tail = vec![100.0];
        tail.extend([1.0; 10]);
        let t = equal_mass_runs(&tail, 8, 1.0);
        assert_eq!(t, vec![vec![0], (1..11).collect::<Vec<u32>>()]);
        let even = equal_mass_runs(&[10.0; 8], 4, 0.1);
        assert_eq!(even.len(), 4);
        assert!(even.iter().all(|g| g.len() == 2));
        // Contiguous and in order.
        let flat: Vec<u32> = r.iter().flatten().copied().collect();
        assert_eq!(flat, (0..8).collect::<Vec<u32>>());
        // Much noise: one bin.
        assert_eq!(equal_mass_runs(&y, 4, 100.0).len(), 1);
        // Negative noisy counts and an all-zero column stay well formed.
        let r = equal_mass_runs(&[-3.0, 0.0, 2.0, -1.0], 3, 0.01);
        assert_eq!(r.iter().flatten().count(), 4);
        assert!(!equal_mass_runs(&[0.0; 5], 3, 1.0).is_empty());
    }
}
