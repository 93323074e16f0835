//! Domain compression (MST step 2): rare values, by their noisy one-way counts, share a code.
//!
//! The map is a function of noisy one-way marginals only, so building it and decoding
//! through it are post-processing (proofs/mst.md, "Domain compression").

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::marginal::{Clique, Domain, MarginalOracle, MarginalTable, OracleError};
use crate::model::accuracy::{normal_upper_quantile, DomainMap};
use crate::model::Measurement;
use crate::model::{StructuralZeros, ZeroFactor};

/// Per attribute: which original codes share each compressed code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compression {
    /// `groups[attr][compressed_code]` = the original codes it stands for (sorted).
    pub groups: Vec<Vec<Vec<u32>>>,
    /// `weights[attr][compressed_code][i]`: how decoding spreads a merged code over
    /// `groups[attr][compressed_code][i]`: the clamped noisy one-way counts (uniform if all
    /// are zero). DP outputs, so spreading by them is post-processing.
    #[serde(default)]
    pub weights: Vec<Vec<Vec<f64>>>,
    /// Attributes whose merged codes are new, wider bins (`bins = "auto"`): decoding keeps
    /// the merged code, and the decoder reads its range from the merged bins
    /// (`knowledge::effective_schema`). Empty in model files written before automatic bins.
    #[serde(default)]
    pub merged_bins: Vec<bool>,
}

impl Compression {
    /// Keeps each value whose noisy count is at least `threshold`; merges the rest of an
    /// attribute into one trailing code (if there are any).
    pub fn from_noisy_one_ways(noisy: &[Vec<f64>], threshold: f64) -> Self {
        Self::from_noisy_one_ways_ordered(noisy, threshold, &[])
    }

    /// [`Compression::from_noisy_one_ways`] for columns whose first `ordered[a]` codes are
    /// bins in increasing order (numbers, dates; public, from the schema): there, each
    /// maximal run of adjacent rare bins shares one code of its own, so a merged code is
    /// still an interval. (One code for every rare bin of a date column would stand for,
    /// say, both the first and the last months of the extract; decoding then spreads it over
    /// both ends independently of every other column, and a rule such as `discharge >=
    /// admission` moves records between the ends, biasing the dates.) The remaining codes
    /// (special values, missing, catch-all) merge as for a categorical column.
    pub fn from_noisy_one_ways_ordered(
        noisy: &[Vec<f64>],
        threshold: f64,
        ordered: &[usize],
    ) -> Self {
        let groups: Vec<Vec<Vec<u32>>> = noisy
            .iter()
            .enumerate()
            .map(|(a, y)| {
                let bins = ordered.get(a).copied().unwrap_or(0).min(y.len());
                let mut kept: Vec<Vec<u32>> = Vec::new();
                let mut run: Vec<u32> = Vec::new();
                for (code, &v) in y[..bins].iter().enumerate() {
                    if v >= threshold {
                        if !run.is_empty() {
                            kept.push(std::mem::take(&mut run));
                        }
                        kept.push(vec![code as u32]);
                    } else {
                        run.push(code as u32);
                    }
                }
                if !run.is_empty() {
                    kept.push(run);
                }
                let mut rest: Vec<u32> = Vec::new();
                for (code, &v) in y.iter().enumerate().skip(bins) {
                    if v >= threshold {
                        kept.push(vec![code as u32]);
                    } else {
                        rest.push(code as u32);
                    }
                }
                if !rest.is_empty() {
                    kept.push(rest);
                }
                kept
            })
            .collect();
        let weights = groups
            .iter()
            .zip(noisy)
            .map(|(g, y)| {
                g.iter()
                    .map(|olds| {
                        let w: Vec<f64> = olds.iter().map(|&o| y[o as usize].max(0.0)).collect();
                        if w.iter().sum::<f64>() > 0.0 {
                            w
                        } else {
                            vec![1.0; olds.len()]
                        }
                    })
                    .collect()
            })
            .collect();
        Compression {
            groups,
            weights,
            merged_bins: Vec::new(),
        }
    }

    /// Marks attribute `a` as merged into new bins (see [`Compression::merged_bins`]).
    pub fn set_merged_bins(&mut self, a: usize) {
        if self.merged_bins.len() < self.groups.len() {
            self.merged_bins.resize(self.groups.len(), false);
        }
        self.merged_bins[a] = true;
    }

    /// Per attribute: whether its merged codes are new bins.
    pub fn merged_bins(&self) -> Vec<bool> {
        (0..self.groups.len())
            .map(|a| self.merged_bins.get(a).copied().unwrap_or(false))
            .collect()
    }

    /// Per attribute, what each compressed code stands for in the codes records are decoded
    /// in: itself for merged-bin attributes, its group of original codes otherwise.
    pub fn groups_after_decoding(&self) -> Vec<Vec<Vec<u32>>> {
        let merged = self.merged_bins();
        self.groups
            .iter()
            .zip(&merged)
            .map(|(g, &m)| {
                if m {
                    (0..g.len() as u32).map(|k| vec![k]).collect()
                } else {
                    g.clone()
                }
            })
            .collect()
    }

    /// Sizes of the decoded domain (see [`Compression::groups_after_decoding`]).
    pub fn decoded_sizes(&self) -> Vec<usize> {
        self.groups_after_decoding()
            .iter()
            .map(|g| g.iter().map(Vec::len).sum())
            .collect()
    }

    /// Sizes of the original (schema) domain: every group's codes. Public, fixed before any
    /// noise (unlike [`Compression::decoded_sizes`], whose merged bins depend on it).
    pub fn original_sizes(&self) -> Vec<usize> {
        self.groups
            .iter()
            .map(|g| g.iter().map(Vec::len).sum())
            .collect()
    }

    /// No compression: every code stands for itself.
    pub fn identity(domain: &Domain) -> Self {
        let groups: Vec<Vec<Vec<u32>>> = domain
            .sizes()
            .iter()
            .map(|&n| (0..n as u32).map(|c| vec![c]).collect())
            .collect();
        let weights = groups
            .iter()
            .map(|g| g.iter().map(|_| vec![1.0]).collect())
            .collect();
        Compression {
            groups,
            weights,
            merged_bins: Vec::new(),
        }
    }

    /// The compressed domain (same names, fewer codes).
    pub fn domain(&self, original: &Domain) -> Domain {
        Domain::new(
            original.names().to_vec(),
            self.groups.iter().map(|g| g.len()).collect(),
        )
    }

    /// `forward[attr][original_code]` = compressed code.
    pub fn forward(&self) -> Vec<Vec<u32>> {
        self.groups
            .iter()
            .map(|g| {
                let n = g.iter().map(|v| v.len()).sum();
                let mut f = vec![0u32; n];
                for (new, olds) in g.iter().enumerate() {
                    for &o in olds {
                        f[o as usize] = new as u32;
                    }
                }
                f
            })
            .collect()
    }

    /// Re-expresses a noisy one-way over the compressed domain by summing merged cells. (A
    /// merged cell has variance `m sigma^2`; weighting it so measured no difference on adult,
    /// so the estimator treats all cells alike; `Fitted::cell_sd` states the true variance.)
    pub fn compress_one_way(&self, m: &Measurement) -> Measurement {
        let a = m.clique.attrs()[0];
        let groups = &self.groups[a];
        let values = groups
            .iter()
            .map(|olds| olds.iter().map(|&o| m.values[o as usize]).sum())
            .collect();
        // An automatic-bin column's merged bins hold many grid cells each, so its one-way
        // gets the noise of the average merged bin.
        let sigma = if self.merged_bins()[a] {
            m.sigma * (m.values.len() as f64 / groups.len().max(1) as f64).sqrt()
        } else {
            m.sigma
        };
        Measurement::new(m.clique.clone(), values, sigma)
    }

    /// Re-expresses a table over the original domain in compressed codes (sums cells).
    pub fn compress_table(&self, table: &MarginalTable, compressed: &Domain) -> MarginalTable {
        let fwd = self.forward();
        let mut out = MarginalTable::zeros(table.clique.clone(), compressed);
        let attrs = table.clique.attrs();
        let mut idx = vec![0usize; attrs.len()];
        for &v in &table.values {
            let mut flat = 0usize;
            for (k, &a) in attrs.iter().enumerate() {
                flat = flat * compressed.size(a) + fwd[a][idx[k]] as usize;
            }
            out.values[flat] += v;
            // advance the row-major multi-index over the original shape
            for k in (0..attrs.len()).rev() {
                idx[k] += 1;
                if idx[k] < table.shape[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
        out
    }

    /// Maps sampled compressed codes back to original codes. The records carrying a merged
    /// code are split over the values it stands for in proportion to their clamped noisy
    /// one-way counts: exact counts by largest remainder, assigned in a random order (the
    /// deterministic-rounding idea of the sampler, applied to decoding). Post-processing,
    /// seeded by the caller.
    pub fn decompress<R: Rng>(&self, columns: &mut [Vec<u32>], rng: &mut R) {
        let merged = self.merged_bins();
        for (a, col) in columns.iter_mut().enumerate() {
            if merged[a] {
                continue;
            }
            let groups = &self.groups[a];
            // Every code stands for one value: a lookup in place (no draws).
            if groups.iter().all(|g| g.len() == 1) {
                if groups.iter().enumerate().any(|(c, g)| g[0] as usize != c) {
                    col.iter_mut().for_each(|c| *c = groups[*c as usize][0]);
                }
                continue;
            }
            // Decode into a fresh vector: original and compressed codes share a range.
            let mut out = vec![0u32; col.len()];
            let mut rows_of: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
            for (r, &c) in col.iter().enumerate() {
                let g = &groups[c as usize];
                if g.len() == 1 {
                    out[r] = g[0];
                } else {
                    rows_of[c as usize].push(r);
                }
            }
            for (k, rows) in rows_of.iter_mut().enumerate() {
                if rows.is_empty() {
                    continue;
                }
                let counts = largest_remainder(&self.spread_weights(a, k), rows.len());
                rows.shuffle(rng);
                let mut it = rows.iter();
                for (value, &n) in groups[k].iter().zip(&counts) {
                    for &r in it.by_ref().take(n) {
                        out[r] = *value;
                    }
                }
            }
            *col = out;
        }
    }

    /// [`Compression::decompress`], then the values of every mask's attributes are redrawn
    /// jointly wherever the record's compressed cell of the mask stands for several
    /// combinations: the records of one such cell (over the decoded domain, `decoded`) share
    /// out the allowed combinations by exact counts (largest remainder, random order) in
    /// proportion to the distribution on the allowed combinations whose margins are the spread
    /// weights (iterative proportional fitting). Drawing each value independently and moving
    /// only the records that broke a rule would not keep the margins: inside one merged run of
    /// months, `discharge >= admission` would push discharges late and admissions early. The
    /// compressed cell is allowed (the model gives zeros no mass), so an allowed combination
    /// exists; an error says a record had none (a bug, never written). Masks that share an
    /// attribute (a hub column, `schema::rules::Component`) are redrawn together, over the
    /// union of their attributes, and a combination is allowed only when every one of them
    /// allows it, so one mask's draw never breaks another's.
    pub fn decompress_within<R: Rng>(
        &self,
        columns: &mut [Vec<u32>],
        zeros: &StructuralZeros,
        decoded: &Domain,
        rng: &mut R,
    ) -> Result<(), String> {
        if zeros.is_empty() {
            self.decompress(columns, rng);
            return Ok(());
        }
        let compressed = columns.to_vec();
        self.decompress(columns, rng);
        let merged = self.merged_bins();
        let n = columns.first().map_or(0, Vec::len);
        let mut record = vec![0u32; columns.len()];
        for masks in linked_factors(zeros) {
            let mut attrs: Vec<usize> = masks
                .iter()
                .flat_map(|f| f.clique.attrs().iter().copied())
                .collect();
            attrs.sort_unstable();
            attrs.dedup();
            let attrs = &attrs[..];
            // The records of each compressed cell of the mask that stands for several
            // combinations of decoded codes (ordered, so a seed reproduces a run).
            let mut cells: BTreeMap<Vec<u32>, Vec<usize>> = BTreeMap::new();
            let keys =
                (0..n).map(|r| -> Vec<u32> { attrs.iter().map(|&a| compressed[a][r]).collect() });
            for (r, key) in keys.enumerate() {
                let several = attrs
                    .iter()
                    .zip(&key)
                    .any(|(&a, &k)| !merged[a] && self.groups[a][k as usize].len() > 1);
                if several {
                    cells.entry(key).or_default().push(r);
                }
            }
            for (key, mut rows) in cells {
                // The codes each attribute's compressed code stands for, with weights.
                let choices: Vec<(Vec<u32>, Vec<f64>)> = attrs
                    .iter()
                    .zip(&key)
                    .map(|(&a, &k)| {
                        if merged[a] {
                            (vec![k], vec![1.0])
                        } else {
                            (
                                self.groups[a][k as usize].clone(),
                                self.spread_weights(a, k as usize),
                            )
                        }
                    })
                    .collect();
                let none_allowed = || {
                    format!(
                        "record {} lies in a cell the rules forbid entirely (columns {attrs:?})",
                        rows[0] + 1
                    )
                };
                if let Some(joint) = allowed_joint(&masks, attrs, decoded, &choices, &mut record) {
                    if joint.is_empty() {
                        return Err(none_allowed());
                    }
                    let p: Vec<f64> = joint.iter().map(|j| j.1).collect();
                    let counts = largest_remainder(&p, rows.len());
                    rows.shuffle(rng);
                    let mut it = rows.iter();
                    for ((combo, _), &c) in joint.iter().zip(&counts) {
                        for &r in it.by_ref().take(c) {
                            for (&a, &v) in attrs.iter().zip(combo) {
                                columns[a][r] = v;
                            }
                        }
                    }
                    continue;
                }
                // Too many combinations to list: move only the records that break a rule, to
                // an allowed combination drawn by weight.
                for &r in &rows {
                    for (a, c) in columns.iter().enumerate() {
                        record[a] = c[r];
                    }
                    if all_allow(&masks, decoded, &record) {
                        continue;
                    }
                    let pick = allowed_choice(&masks, attrs, decoded, &choices, &mut record, rng)
                        .map_err(|e| match e {
                        ChoiceError::NoneAllowed => none_allowed(),
                        ChoiceError::NotFound { combinations } => format!(
                            "record {}: no allowed combination of the columns {attrs:?} found in {DRAWS} weighted draws among {combinations} combinations (too many to list)",
                            r + 1
                        ),
                    })?;
                    for (&a, v) in attrs.iter().zip(pick) {
                        columns[a][r] = v;
                    }
                }
            }
        }
        Ok(())
    }

    /// The weights decoding spreads merged code `k` of attribute `a` by.
    pub fn spread(&self, a: usize, k: usize) -> Vec<f64> {
        self.spread_weights(a, k)
    }

    /// Non-negative weights for spreading merged code `k` of attribute `a` (uniform when no
    /// usable weights were recorded).
    fn spread_weights(&self, a: usize, k: usize) -> Vec<f64> {
        let n = self.groups[a][k].len();
        match self.weights.get(a).and_then(|w| w.get(k)) {
            Some(w)
                if w.len() == n
                    && w.iter().all(|x| x.is_finite() && *x >= 0.0)
                    && w.iter().sum::<f64>() > 0.0 =>
            {
                w.clone()
            }
            _ => vec![1.0; n],
        }
    }
}

/// Most combinations of decoded codes listed for one compressed cell of a mask.
const ENUMERATE: usize = 200_000;

/// Weighted draws tried for a cell with more than [`ENUMERATE`] combinations.
const DRAWS: usize = 20_000;

/// Why no allowed combination was drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChoiceError {
    /// The masks allow no combination of the choices.
    NoneAllowed,
    /// Too many combinations to list, and [`DRAWS`] weighted draws found none allowed.
    NotFound { combinations: usize },
}

/// The masks in groups that share attributes (a group's masks are redrawn together), in
/// the order of their first mask.
fn linked_factors(zeros: &StructuralZeros) -> Vec<Vec<&ZeroFactor>> {
    let fs = zeros.factors();
    let mut group: Vec<usize> = (0..fs.len()).collect();
    // Relabel until stable: a mask takes the smallest label of any mask it shares with.
    loop {
        let mut changed = false;
        for i in 0..fs.len() {
            for j in 0..fs.len() {
                let share = fs[i]
                    .clique
                    .attrs()
                    .iter()
                    .any(|a| fs[j].clique.attrs().contains(a));
                if share && group[j] < group[i] {
                    group[i] = group[j];
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut out: BTreeMap<usize, Vec<&ZeroFactor>> = BTreeMap::new();
    for (i, f) in fs.iter().enumerate() {
        out.entry(group[i]).or_default().push(f);
    }
    out.into_values().collect()
}

/// Whether every mask allows the record.
fn all_allow(masks: &[&ZeroFactor], domain: &Domain, record: &[u32]) -> bool {
    masks.iter().all(|f| f.allowed[f.cell_of(domain, record)])
}

/// Every combination of codes (one from each attribute's choices) the mask allows, with the
/// probabilities of the distribution on them whose margins are the choices' normalised
/// weights, as near as the allowed set permits (iterative proportional fitting from the
/// product of the weights). None when there are more than [`ENUMERATE`] combinations.
/// `record` is scratch (its mask attributes are overwritten).
fn allowed_joint(
    masks: &[&ZeroFactor],
    attrs: &[usize],
    domain: &Domain,
    choices: &[(Vec<u32>, Vec<f64>)],
    record: &mut [u32],
) -> Option<Vec<(Vec<u32>, f64)>> {
    let combos = choices
        .iter()
        .map(|c| c.0.len())
        .try_fold(1usize, |a, b| a.checked_mul(b))?;
    if combos > ENUMERATE {
        return None;
    }
    let allowed = allowed_indices(masks, attrs, domain, choices, record);
    let targets: Vec<Vec<f64>> = choices
        .iter()
        .map(|(_, w)| {
            let w: Vec<f64> = w.iter().map(|x| x.max(0.0)).collect();
            let t: f64 = w.iter().sum();
            if t > 0.0 {
                w.iter().map(|x| x / t).collect()
            } else {
                vec![1.0 / w.len() as f64; w.len()]
            }
        })
        .collect();
    // Start from the product of the weights, then fit each margin in turn.
    let mut p: Vec<f64> = allowed
        .iter()
        .map(|ix| ix.iter().zip(&targets).map(|(&i, t)| t[i]).product())
        .collect();
    for _ in 0..200 {
        let mut worst = 0.0f64;
        for (k, t) in targets.iter().enumerate() {
            if t.len() == 1 {
                continue;
            }
            let mut m = vec![0.0; t.len()];
            for (ix, &q) in allowed.iter().zip(&p) {
                m[ix[k]] += q;
            }
            let total: f64 = m.iter().sum();
            if total <= 0.0 {
                break;
            }
            for (&mi, &ti) in m.iter().zip(t) {
                worst = worst.max((mi / total - ti).abs());
            }
            for (ix, q) in allowed.iter().zip(p.iter_mut()) {
                let mi = m[ix[k]];
                if mi > 0.0 {
                    *q *= t[ix[k]] * total / mi;
                }
            }
        }
        if worst < 1e-9 {
            break;
        }
    }
    // All-zero weights (every allowed combination has a zero-weight code): uniform.
    if !p.iter().any(|&q| q > 0.0) {
        p.iter_mut().for_each(|q| *q = 1.0);
    }
    Some(
        allowed
            .into_iter()
            .zip(p)
            .map(|(ix, q)| (ix.iter().zip(choices).map(|(&i, c)| c.0[i]).collect(), q))
            .collect(),
    )
}

/// Every combination of codes (one from each of `attrs`' choices) every mask allows, as
/// indices into the choices, in odometer order (last attribute fastest). `record` is
/// scratch (its `attrs` are overwritten).
fn allowed_indices(
    masks: &[&ZeroFactor],
    attrs: &[usize],
    domain: &Domain,
    choices: &[(Vec<u32>, Vec<f64>)],
    record: &mut [u32],
) -> Vec<Vec<usize>> {
    let mut allowed = Vec::new();
    let mut idx = vec![0usize; choices.len()];
    'all: loop {
        for (k, &a) in attrs.iter().enumerate() {
            record[a] = choices[k].0[idx[k]];
        }
        if all_allow(masks, domain, record) {
            allowed.push(idx.clone());
        }
        for k in (0..idx.len()).rev() {
            idx[k] += 1;
            if idx[k] < choices[k].0.len() {
                continue 'all;
            }
            idx[k] = 0;
        }
        break;
    }
    allowed
}

/// A combination of codes (one from each of `attrs`' choices) every mask allows, drawn in
/// proportion to the product of the choices' weights; `record` is scratch (its `attrs` are
/// overwritten). With more than [`ENUMERATE`] combinations only [`DRAWS`] weighted draws
/// are tried (bounded time and memory), never a listing of them all.
fn allowed_choice<R: Rng>(
    masks: &[&ZeroFactor],
    attrs: &[usize],
    domain: &Domain,
    choices: &[(Vec<u32>, Vec<f64>)],
    record: &mut [u32],
    rng: &mut R,
) -> Result<Vec<u32>, ChoiceError> {
    let combinations: usize = choices
        .iter()
        .map(|c| c.0.len())
        .try_fold(1usize, |a, b| a.checked_mul(b))
        .unwrap_or(usize::MAX);
    if combinations > ENUMERATE {
        for _ in 0..DRAWS {
            let pick: Vec<u32> = choices
                .iter()
                .map(|(codes, w)| codes[weighted_index(w, rng)])
                .collect();
            for (&a, &v) in attrs.iter().zip(&pick) {
                record[a] = v;
            }
            if all_allow(masks, domain, record) {
                return Ok(pick);
            }
        }
        return Err(ChoiceError::NotFound { combinations });
    }
    let mut allowed: Vec<(Vec<u32>, f64)> = allowed_indices(masks, attrs, domain, choices, record)
        .into_iter()
        .map(|idx| {
            let codes = idx.iter().zip(choices).map(|(&i, c)| c.0[i]).collect();
            let w: f64 = idx.iter().zip(choices).map(|(&i, c)| c.1[i]).product();
            (codes, w.max(0.0))
        })
        .collect();
    if allowed.is_empty() {
        return Err(ChoiceError::NoneAllowed);
    }
    let w: Vec<f64> = allowed.iter().map(|a| a.1).collect();
    let i = weighted_index(&w, rng);
    Ok(allowed.swap_remove(i).0)
}

/// An index drawn in proportion to non-negative weights (uniformly if they sum to zero).
fn weighted_index<R: Rng>(w: &[f64], rng: &mut R) -> usize {
    let total: f64 = w.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return rng.gen_range(0..w.len().max(1));
    }
    let mut u = rng.gen::<f64>() * total;
    for (i, &x) in w.iter().enumerate() {
        if u < x {
            return i;
        }
        u -= x;
    }
    w.len() - 1
}

/// The compression as the accuracy module sees it: how the model's (compressed) domain maps
/// to the released one. Post-processing of the noisy one-ways (proofs/accuracy.md).
pub struct CompressionMap<'a> {
    compression: &'a Compression,
    released: Domain,
    /// Per attribute and compressed code of a merged group (several values): the noisy
    /// one-way count of the group, its noise standard deviation and its number of values.
    merged: Vec<Vec<Option<(f64, f64, usize)>>>,
    /// Per attribute, what each compressed code decodes to (`groups_after_decoding`).
    decoded: Vec<Vec<Vec<u32>>>,
}

impl<'a> CompressionMap<'a> {
    /// `model_domain` is the compressed domain; `one_ways[a]`, when present, is attribute
    /// `a`'s noisy one-way over it with per-cell noise standard deviations.
    pub fn new(
        compression: &'a Compression,
        model_domain: &Domain,
        one_ways: &[Option<(&[f64], &[f64])>],
    ) -> Self {
        // Auto-bin attributes decode each merged bin as itself (`groups_after_decoding`).
        let decoded = compression.groups_after_decoding();
        let released = Domain::new(
            model_domain.names().to_vec(),
            decoded
                .iter()
                .map(|g| g.iter().map(Vec::len).sum())
                .collect(),
        );
        let merged = decoded
            .iter()
            .enumerate()
            .map(|(a, g)| {
                g.iter()
                    .enumerate()
                    .map(|(k, olds)| {
                        if olds.len() < 2 {
                            return None;
                        }
                        match one_ways.get(a).copied().flatten() {
                            Some((y, sd)) if k < y.len() && k < sd.len() => {
                                Some((y[k], sd[k], olds.len()))
                            }
                            // No noisy count for the group: no finite bound on its mass.
                            _ => Some((f64::INFINITY, 0.0, olds.len())),
                        }
                    })
                    .collect()
            })
            .collect();
        CompressionMap {
            compression,
            released,
            merged,
            decoded,
        }
    }
}

impl DomainMap for CompressionMap<'_> {
    fn released(&self) -> &Domain {
        &self.released
    }

    fn expand_codes(&self, columns: &mut [Vec<u32>], rng: &mut rand_chacha::ChaCha20Rng) {
        self.compression.decompress(columns, rng);
    }

    /// Released codes are the original codes, except for automatic-bin columns, whose
    /// released codes are the merged bins themselves (the model's codes). Mapping those
    /// through `forward` read merged bin k as fine cell k and put almost every simulated
    /// record in the first bin, so every auto column's stated error was near 2 (issue #14).
    fn model_codes(&self, columns: &[Vec<u32>]) -> Vec<Vec<u32>> {
        let fwd = self.compression.forward();
        let merged = self.compression.merged_bins();
        columns
            .iter()
            .enumerate()
            .map(|(a, col)| {
                if merged[a] {
                    col.clone()
                } else {
                    col.iter().map(|&v| fwd[a][v as usize]).collect()
                }
            })
            .collect()
    }

    /// Spreads each compressed cell over the values it stands for, in the proportions
    /// decoding uses (so the expanded table is what the released records follow).
    fn expand_table(&self, table: &MarginalTable) -> MarginalTable {
        let attrs = table.clique.attrs();
        let mut out = MarginalTable::zeros(table.clique.clone(), &self.released);
        // Per attribute: original code -> (compressed code, share of the group).
        let maps: Vec<Vec<(usize, f64)>> = attrs
            .iter()
            .map(|&a| {
                let mut m = vec![(0usize, 0.0); self.released.size(a)];
                for (k, olds) in self.decoded[a].iter().enumerate() {
                    let w = if olds.len() == 1 {
                        vec![1.0]
                    } else {
                        self.compression.spread_weights(a, k)
                    };
                    let sum: f64 = w.iter().sum();
                    for (&o, &wi) in olds.iter().zip(&w) {
                        m[o as usize] = (k, wi / sum);
                    }
                }
                m
            })
            .collect();
        let shape_c = &table.shape;
        let mut idx = vec![0usize; attrs.len()];
        for v in out.values.iter_mut() {
            let (mut flat, mut share) = (0usize, 1.0);
            for (k, m) in maps.iter().enumerate() {
                let (c, w) = m[idx[k]];
                flat = flat * shape_c[k] + c;
                share *= w;
            }
            *v = table.values[flat] * share;
            for k in (0..attrs.len()).rev() {
                idx[k] += 1;
                if idx[k] < maps[k].len() {
                    break;
                }
                idx[k] = 0;
            }
        }
        out
    }

    /// Decoding spreads the records of merged code `k` as exact largest-remainder counts
    /// per value over a uniformly random subset of them ([`Compression::decompress`]), so
    /// the records' other codes meet the values by a uniformly random matching: a
    /// hypergeometric table with the clique's counts and the split as margins. One
    /// attribute after another, as decoding does (each shuffle is independent).
    fn expand_counts(
        &self,
        table: &MarginalTable,
        rng: &mut rand_chacha::ChaCha20Rng,
    ) -> MarginalTable {
        let attrs = table.clique.attrs();
        let mut shape = table.shape.clone();
        let mut values: Vec<u64> = table
            .values
            .iter()
            .map(|v| v.round().max(0.0) as u64)
            .collect();
        for (p, &a) in attrs.iter().enumerate() {
            let (old, new) = (shape[p], self.released.size(a));
            let inner: usize = shape[p + 1..].iter().product();
            let outer: usize = shape[..p].iter().product();
            let mut out = vec![0u64; outer * new * inner];
            for (k, olds) in self.decoded[a].iter().enumerate().take(old) {
                let cells = (0..outer).flat_map(|o| (0..inner).map(move |i| (o, i)));
                if olds.len() == 1 {
                    let v = olds[0] as usize;
                    for (o, i) in cells {
                        out[(o * new + v) * inner + i] += values[(o * old + k) * inner + i];
                    }
                    continue;
                }
                let rows: Vec<(usize, u64)> = cells
                    .map(|(o, i)| (o * new * inner + i, values[(o * old + k) * inner + i]))
                    .collect();
                let n_k: u64 = rows.iter().map(|r| r.1).sum();
                let split = largest_remainder(&self.compression.spread_weights(a, k), n_k as usize);
                let mut cols: Vec<(usize, u64)> = olds
                    .iter()
                    .zip(split)
                    .map(|(&v, c)| (v as usize * inner, c as u64))
                    .collect();
                crate::model::counts::contingency(&rows, &mut cols, rng, |r, c, x| out[r + c] += x);
            }
            values = out;
            shape[p] = new;
        }
        MarginalTable::from_values(
            table.clique.clone(),
            &self.released,
            values.into_iter().map(|v| v as f64).collect(),
        )
        .unwrap_or_else(|| unreachable!("expanded to the released shape"))
    }

    /// Spreading can misplace at most the true records of the merged groups, twice over (L1):
    /// `2 sum_a M_a` over the clique's attributes, with `M_a` the true mass of attribute `a`'s
    /// merged values. The groups were chosen by the same noisy counts that estimate their
    /// mass (values below a threshold), so a quantile for a group fixed in advance would not
    /// do: `M_a <= Y_a + s_a T_K`, with `Y_a` the merged groups' noisy counts, `s_a` one
    /// value's noise scale, and `T_K` a bound, simultaneous over every `K`, on the largest sum
    /// of `K` of the attribute's `V_a` standardised noises ([`top_k_noise_bound`], at
    /// `alpha / |clique|` per attribute; proofs/accuracy.md, "MST's merged values").
    fn expansion_bound(&self, clique: &Clique, alpha: f64) -> f64 {
        let per_attr = alpha / clique.len().max(1) as f64;
        clique
            .attrs()
            .iter()
            .filter_map(|&a| {
                let groups: Vec<(f64, f64, usize)> =
                    self.merged[a].iter().flatten().copied().collect();
                if groups.is_empty() {
                    return None;
                }
                let y: f64 = groups.iter().map(|g| g.0).sum();
                let k: usize = groups.iter().map(|g| g.2).sum();
                // A merged group's noisy count sums its values' (the one-ways are measured
                // before compressing: `Fitted::summed`), so one value's scale is sd / sqrt(k).
                let s = groups
                    .iter()
                    .map(|g| g.1 / (g.2.max(1) as f64).sqrt())
                    .fold(0.0, f64::max);
                let t = top_k_noise_bound(k, self.released.size(a), per_attr);
                Some(2.0 * (y + s * t).max(0.0))
            })
            .sum()
    }
}

/// With probability at least `1 - beta`, for every `k <= values` at once, no `k` of `values`
/// independent standard normals sum to more than `values phi(l_k) + sqrt(2 k ln(values /
/// beta))`, where `Q(l_k) = k / values` (`Q` the upper tail). The largest sum of `k`, `T_k`,
/// is at most `k l + sum_v (g_v - l)^+` for every `l`, whose mean `k l + values (phi(l) -
/// l Q(l))` is smallest, `values phi(l_k)`, at `l_k`; `T_k` is a maximum of linear maps of
/// norm `sqrt(k)`, so Gaussian concentration gives each `k` its `beta / values`.
pub fn top_k_noise_bound(k: usize, values: usize, beta: f64) -> f64 {
    let values = values.max(k).max(1);
    if k == 0 {
        return 0.0;
    }
    let v = values as f64;
    let l = normal_upper_quantile(k as f64 / v);
    let phi = (-0.5 * l * l).exp() / (2.0 * std::f64::consts::PI).sqrt();
    v * phi + (2.0 * k as f64 * (v / beta).ln()).sqrt()
}

/// Splits `total` into whole counts proportional to `weights` (positive sum), by the
/// largest-remainder method, so that they add up to `total` exactly.
fn largest_remainder(weights: &[f64], total: usize) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut left = total.saturating_sub(counts.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&i, &j| {
        (exact[j] - exact[j].floor())
            .total_cmp(&(exact[i] - exact[i].floor()))
            .then(i.cmp(&j))
    });
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

/// An oracle over the compressed domain: counts on the original data, then merges cells.
/// Each record still falls in exactly one cell, so sensitivities are unchanged.
pub struct CompressedOracle<'a, O: MarginalOracle> {
    inner: &'a O,
    compression: &'a Compression,
    domain: Domain,
}

impl<'a, O: MarginalOracle> CompressedOracle<'a, O> {
    pub fn new(inner: &'a O, compression: &'a Compression) -> Self {
        let domain = compression.domain(inner.domain());
        CompressedOracle {
            inner,
            compression,
            domain,
        }
    }
}

impl<O: MarginalOracle> MarginalOracle for CompressedOracle<'_, O> {
    fn domain(&self) -> &Domain {
        &self.domain
    }

    fn marginal(&self, clique: &Clique) -> Result<MarginalTable, OracleError> {
        let t = self.inner.marginal(clique)?;
        Ok(self.compression.compress_table(&t, &self.domain))
    }

    fn prefetch(&self, cliques: &[Clique]) -> Result<(), OracleError> {
        self.inner.prefetch(cliques)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn merges_rare_values_and_compresses_tables() {
        let d = Domain::from_sizes(vec![4, 2]);
        let c =
            Compression::from_noisy_one_ways(&[vec![10.0, 1.0, 9.0, -2.0], vec![5.0, 6.0]], 3.0);
        assert_eq!(c.groups[0], vec![vec![0], vec![2], vec![1, 3]]);
        let cd = c.domain(&d);
        assert_eq!(cd.sizes(), &[3, 2]);
        let t =
            MarginalTable::from_values(Clique::new([0, 1]), &d, (0..8).map(|x| x as f64).collect())
                .unwrap();
        let ct = c.compress_table(&t, &cd);
        // original rows: code0 -> [0,1], code1 -> [2,3], code2 -> [4,5], code3 -> [6,7]
        assert_eq!(ct.values, vec![0.0, 1.0, 4.0, 5.0, 2.0 + 6.0, 3.0 + 7.0]);
        let mut cols = vec![vec![0, 1, 2, 2, 2, 2], vec![0, 1, 0, 1, 0, 1]];
        c.decompress(&mut cols, &mut rand_chacha::ChaCha20Rng::seed_from_u64(1));
        assert_eq!(&cols[0][..2], &[0, 2]);
        // Merged code 2 stands for values 1 (noisy count 1) and 3 (clamped to 0): all four go to 1.
        assert!(cols[0][2..].iter().all(|&v| v == 1), "{:?}", cols[0]);
    }

    /// The merged values' mass is covered at the stated level although the values were
    /// merged *because* their noisy counts were low: 40 values of true count 3.5 sigma,
    /// merged below 3 sigma, so each merged value's noise is biased low (2,000 trials). The
    /// bound through `CompressionMap::expansion_bound` fails in at most `alpha` of them (here
    /// none), while the former rule (the group's noisy count plus a normal quantile of its
    /// noise, valid for a group fixed in advance) failed in most.
    #[test]
    fn expansion_covers_merged_mass_chosen_by_its_own_noise() {
        let (values, sigma, truth, alpha) = (40usize, 10.0, 35.0, 0.05);
        let d = Domain::from_sizes(vec![values]);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let normal = rand_distr::Normal::new(0.0, sigma).unwrap();
        let (mut fails, mut former_fails, mut merged_trials) = (0, 0, 0);
        for _ in 0..2000 {
            let y: Vec<f64> = (0..values)
                .map(|_| truth + rand::Rng::sample(&mut rng, normal))
                .collect();
            let c = Compression::from_noisy_one_ways(std::slice::from_ref(&y), 3.0 * sigma);
            let Some(g) = c.groups[0].iter().find(|g| g.len() > 1) else {
                continue;
            };
            merged_trials += 1;
            let mass = truth * g.len() as f64;
            let cd = c.domain(&d);
            // The compressed one-way sums the merged values' noisy counts (summed one-ways).
            let cy: Vec<f64> = c.groups[0]
                .iter()
                .map(|g| g.iter().map(|&v| y[v as usize]).sum())
                .collect();
            let sd: Vec<f64> = c.groups[0]
                .iter()
                .map(|g| sigma * (g.len() as f64).sqrt())
                .collect();
            let one_ways: Vec<Option<(&[f64], &[f64])>> = vec![Some((&cy, &sd))];
            let map = CompressionMap::new(&c, &cd, &one_ways);
            let bound = map.expansion_bound(&Clique::new([0]), alpha);
            fails += usize::from(2.0 * mass > bound);
            let y_g: f64 = g.iter().map(|&v| y[v as usize]).sum();
            let former = y_g + normal_upper_quantile(alpha) * sigma * (g.len() as f64).sqrt();
            former_fails += usize::from(mass > former);
        }
        assert!(merged_trials > 1900, "{merged_trials}");
        assert!(
            fails as f64 <= alpha * merged_trials as f64,
            "{fails}/{merged_trials}"
        );
        assert!(
            former_fails * 2 > merged_trials,
            "{former_fails}/{merged_trials}"
        );
    }

    /// The top-`k` bound holds for every `k` at once at its level (simulated: 2,000 draws of
    /// 30 standard normals, level 0.1) and is not far above the largest sum's mean.
    #[test]
    fn top_k_noise_bound_covers_every_k() {
        let (values, beta) = (30usize, 0.1);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let mut fails = 0;
        let mut mean_top = vec![0.0; values + 1];
        for _ in 0..2000 {
            let mut g: Vec<f64> = (0..values)
                .map(|_| rand::Rng::sample(&mut rng, rand_distr::StandardNormal))
                .collect();
            g.sort_by(|a, b| b.total_cmp(a));
            let mut sum = 0.0;
            let mut any = false;
            for k in 1..=values {
                sum += g[k - 1];
                mean_top[k] += sum / 2000.0;
                any |= sum > top_k_noise_bound(k, values, beta);
            }
            fails += usize::from(any);
        }
        assert!(fails as f64 <= beta * 2000.0, "{fails}");
        for k in [1, 5, 15, 30] {
            let b = top_k_noise_bound(k, values, beta);
            assert!(b > mean_top[k] && b < mean_top[k] + 4.0 * (k as f64).sqrt() + 2.0);
        }
    }

    /// Expanding counts has the law of expanding the records behind them: exact margins,
    /// and the merged group's cells move as decoding the records moves them (mean and
    /// variance over 4,000 trials each, within 5 standard errors).
    #[test]
    fn expanding_counts_follows_decoding_records() {
        let d = Domain::from_sizes(vec![4, 2]);
        let c = Compression::from_noisy_one_ways(&[vec![10.0, 2.0, 9.0, 1.0], vec![5.0, 6.0]], 3.0);
        assert_eq!(c.groups[0], vec![vec![0], vec![2], vec![1, 3]]);
        let cd = c.domain(&d);
        let one_ways: Vec<Option<(&[f64], &[f64])>> = vec![None, None];
        let map = CompressionMap::new(&c, &cd, &one_ways);
        // Model codes: (compressed a0, a1) counts; merged code 2 holds 5 + 7 records.
        let model_counts = vec![3.0, 1.0, 2.0, 4.0, 5.0, 7.0];
        let t = MarginalTable::from_values(Clique::new([0, 1]), &cd, model_counts.clone()).unwrap();
        let mut cols: Vec<Vec<u32>> = vec![Vec::new(), Vec::new()];
        for (cell, &n) in model_counts.iter().enumerate() {
            for _ in 0..n as usize {
                cols[0].push((cell / 2) as u32);
                cols[1].push((cell % 2) as u32);
            }
        }
        let trials = 4000;
        let (mut by_counts, mut by_records) = (Vec::new(), Vec::new());
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        for _ in 0..trials {
            let e = map.expand_counts(&t, &mut rng);
            // Released values 1 and 3 split the 12 records 8 : 4 (weights 2 : 1), exactly.
            assert_eq!(e.values[2] + e.values[3], 8.0);
            assert_eq!(e.values[6] + e.values[7], 4.0);
            assert_eq!(e.project(&Clique::new([1])).values, vec![10.0, 12.0]);
            assert_eq!((e.values[0], e.values[4]), (3.0, 2.0));
            by_counts.push(e.values[2]);
            let mut rec = cols.clone();
            map.expand_codes(&mut rec, &mut rng);
            by_records.push(
                (0..rec[0].len())
                    .filter(|&r| rec[0][r] == 1 && rec[1][r] == 0)
                    .count() as f64,
            );
        }
        let mv = |x: &[f64]| {
            let m = x.iter().sum::<f64>() / x.len() as f64;
            let v = x.iter().map(|y| (y - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64;
            (m, v)
        };
        let ((m1, v1), (m2, v2)) = (mv(&by_counts), mv(&by_records));
        let se = ((v1 + v2) / trials as f64).sqrt();
        assert!((m1 - m2).abs() <= 5.0 * se, "means {m1} vs {m2}");
        // Hypergeometric: 8 of 12 records, 5 of them with a1 = 0.
        assert!((m1 - 8.0 * 5.0 / 12.0).abs() <= 5.0 * se);
        assert!((v1 / v2 - 1.0).abs() < 0.15, "variances {v1} vs {v2}");
    }

    #[test]
    fn ordered_bins_merge_in_runs_of_adjacent_rare_bins() {
        // Six bins then a special value and a missing code, all by noisy count; threshold 3.
        let y = vec![1.0, 2.0, 9.0, -1.0, 8.0, 0.5, 1.0, 2.0];
        let c = Compression::from_noisy_one_ways_ordered(std::slice::from_ref(&y), 3.0, &[6]);
        assert_eq!(
            c.groups[0],
            vec![vec![0, 1], vec![2], vec![3], vec![4], vec![5], vec![6, 7]]
        );
        // Unordered: every rare code in one trailing group, as before.
        let u = Compression::from_noisy_one_ways_ordered(&[y], 3.0, &[0]);
        assert_eq!(u.groups[0], vec![vec![2], vec![4], vec![0, 1, 3, 5, 6, 7]]);
        // Each code appears once, and the weights follow the groups.
        let flat: Vec<u32> = {
            let mut f: Vec<u32> = c.groups[0].iter().flatten().copied().collect();
            f.sort_unstable();
            f
        };
        assert_eq!(flat, (0..8).collect::<Vec<u32>>());
        assert_eq!(c.weights[0][0], vec![1.0, 2.0]);
    }

    #[test]
    fn decoding_inside_a_merged_run_keeps_its_margins_under_a_rule() {
        // Two attributes of 4 codes, both merged into one code; the rule forbids a > b
        // (the lower triangle). Every record sits in the one compressed cell.
        let d = Domain::from_sizes(vec![4, 4]);
        let allowed: Vec<bool> = (0..16).map(|i| i / 4 <= i % 4).collect();
        let zeros = StructuralZeros::new(
            &d,
            vec![ZeroFactor {
                clique: Clique::new([0, 1]),
                allowed,
            }],
        )
        .unwrap();
        let c = Compression::from_noisy_one_ways(&[vec![1.0; 4], vec![1.0; 4]], 3.0);
        assert_eq!(c.groups[0], vec![vec![0, 1, 2, 3]]);
        let n = 40_000;
        let mut cols = vec![vec![0u32; n], vec![0u32; n]];
        c.decompress_within(
            &mut cols,
            &zeros,
            &d,
            &mut rand_chacha::ChaCha20Rng::seed_from_u64(3),
        )
        .unwrap();
        let mut m = [[0usize; 4]; 2];
        for r in 0..n {
            assert!(cols[0][r] <= cols[1][r], "row {r}");
            m[0][cols[0][r] as usize] += 1;
            m[1][cols[1][r] as usize] += 1;
        }
        // Both margins stay uniform (the weights): moving only the records that broke the
        // rule gave the first attribute 0.4 at code 0 and the second 0.4 at code 3.
        for (a, counts) in m.iter().enumerate() {
            for (v, &c) in counts.iter().enumerate() {
                let share = c as f64 / n as f64;
                assert!((share - 0.25).abs() < 0.01, "attr {a} code {v}: {share}");
            }
        }
    }

    #[test]
    fn masks_sharing_a_column_are_redrawn_together() {
        // Attribute 1 is a hub: mask A forbids a0 > a1, mask B forbids a2 > a1. All three
        // attributes merged into one code each, so every record is redrawn; redrawing each
        // mask on its own would let mask B's draw of a1 break mask A.
        let d = Domain::from_sizes(vec![4, 4, 4]);
        let le: Vec<bool> = (0..16).map(|i| i / 4 <= i % 4).collect();
        let ge: Vec<bool> = (0..16).map(|i| i / 4 >= i % 4).collect();
        let zeros = StructuralZeros::new(
            &d,
            vec![
                ZeroFactor {
                    clique: Clique::new([0, 1]),
                    allowed: le,
                },
                ZeroFactor {
                    clique: Clique::new([1, 2]),
                    allowed: ge,
                },
            ],
        )
        .unwrap();
        assert_eq!(linked_factors(&zeros).len(), 1);
        let c = Compression::from_noisy_one_ways(&[vec![1.0; 4], vec![1.0; 4], vec![1.0; 4]], 3.0);
        let n = 5_000;
        let mut cols = vec![vec![0u32; n]; 3];
        c.decompress_within(
            &mut cols,
            &zeros,
            &d,
            &mut rand_chacha::ChaCha20Rng::seed_from_u64(5),
        )
        .unwrap();
        for (r, ((&a, &b), &c)) in cols[0].iter().zip(&cols[1]).zip(&cols[2]).enumerate() {
            assert!(zeros.allows(&d, &[a, b, c]), "row {r}: {:?}", [a, b, c]);
        }
        // Every value of the hub still occurs.
        assert!((0..4).all(|v| cols[1].contains(&v)));
    }

    #[test]
    fn too_many_combinations_give_a_typed_error_not_a_listing() {
        // 3 attributes of 100 codes: 1,000,000 combinations, more than can be listed. The
        // one allowed combination has weight zero, so weighted draws never find it: the
        // draw gives up with `NotFound` after its bounded draws (before: it listed all
        // million combinations).
        let d = Domain::from_sizes(vec![100, 100, 100]);
        let mut allowed = vec![false; 1_000_000];
        allowed[0] = true;
        let f = ZeroFactor {
            clique: Clique::new([0, 1, 2]),
            allowed,
        };
        let mut w = vec![1.0; 100];
        w[0] = 0.0;
        let choices: Vec<(Vec<u32>, Vec<f64>)> =
            (0..3).map(|_| ((0..100).collect(), w.clone())).collect();
        let mut record = vec![0u32; 3];
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let got = allowed_choice(&[&f], &[0, 1, 2], &d, &choices, &mut record, &mut rng);
        assert_eq!(
            got,
            Err(ChoiceError::NotFound {
                combinations: 1_000_000
            })
        );
        // A listable cell with nothing allowed says so.
        let small = ZeroFactor {
            clique: Clique::new([0, 1, 2]),
            allowed: vec![false; 1_000_000],
        };
        let few: Vec<(Vec<u32>, Vec<f64>)> = (0..3).map(|_| (vec![1, 2], vec![1.0, 1.0])).collect();
        let got = allowed_choice(&[&small], &[0, 1, 2], &d, &few, &mut record, &mut rng);
        assert_eq!(got, Err(ChoiceError::NoneAllowed));
    }

    #[test]
    fn released_codes_of_merged_bins_are_the_model_codes() {
        // Attribute 0: a fine grid of 6 cells merged into bins {0,1,2}, {3,4,5} (automatic
        // bins: released as the merged bins); attribute 1: rare values merged (released as
        // the original codes).
        let mut c = Compression::from_noisy_one_ways(&[vec![9.0; 6], vec![9.0, 1.0, 1.0]], 3.0);
        c.groups[0] = vec![vec![0, 1, 2], vec![3, 4, 5]];
        c.weights[0] = vec![vec![1.0; 3], vec![1.0; 3]];
        c.set_merged_bins(0);
        let d = c.domain(&Domain::from_sizes(vec![6, 3]));
        let map = CompressionMap::new(&c, &d, &[None, None]);
        assert_eq!(map.released().sizes(), &[2, 3]);
        let coded = map.model_codes(&[vec![0, 1, 1], vec![0, 1, 2]]);
        assert_eq!(coded, vec![vec![0, 1, 1], vec![0, 1, 1]]);
    }

    #[test]
    fn largest_remainder_is_exact_and_proportional() {
        assert_eq!(largest_remainder(&[1.0, 1.0, 2.0], 8), vec![2, 2, 4]);
        assert_eq!(
            largest_remainder(&[1.0, 1.0, 1.0], 10)
                .iter()
                .sum::<usize>(),
            10
        );
        assert_eq!(largest_remainder(&[0.2, 0.8], 1), vec![0, 1]);
    }
}
