//! Synthetic records from a fitted model, drawn along the junction tree: the root clique
//! jointly, then every other clique's new attributes conditioned on its separator with the
//! parent. Following the tree (not the measured cliques) keeps every dependency the model
//! has, including those that triangulation added (DESIGN section 8).
//!
//! Two methods:
//! - [`SamplingMethod::Forward`]: independent records (ancestral sampling). Rows are drawn
//!   in fixed-size chunks, each with its own ChaCha stream, so output depends only on the
//!   seed, never on the thread count.
//! - [`SamplingMethod::Rounding`]: private-pgm's `synthetic_data` idea on the tree. Each
//!   tree clique is drawn one new attribute at a time (the chain rule inside the clique;
//!   the root's separator is empty). A step's expected counts form a table
//!   `x[s][v] = n_s * p(v | s)` over the separator cells `s` (rows, summing to the integer
//!   group sizes `n_s`) and the new attribute's values `v` (columns). The table is rounded
//!   by controlled rounding ([`controlled_round`]; Cox 1987, dependent rounding of Gandhi,
//!   Khuller, Parthasarathy and Srinivasan 2006): every cell becomes the floor or ceiling
//!   of `x` with expectation `x`, every row its group size, and every column the floor or
//!   ceiling of its expected total. Rounding each group on its own (as before) was as
//!   unbiased and as close per cell, but its errors added up over the groups (and over a
//!   clique's cells, when a step drew several attributes at once): with a model that fits
//!   the data almost exactly, a one-way marginal of 600 records was off by four
//!   (`tests/privacy_hardening.rs::huge_budgets_release_and_verify` failed about one run
//!   in seven). Now each attribute's one-way count is within one record of its expected
//!   total given the records drawn before it, and equal to the data's for a model fitted
//!   to exact counts (`one_ways_are_exact_for_a_model_fitted_to_exact_counts`).
//!   The records of a separator group are not matched to the new values at random: they
//!   are sorted by the attributes they already have (the parent clique's first, then the
//!   grandparent's, ...; random order within a stratum) and the new values are dealt so
//!   that each value's copies are spread evenly along that order. Every stratum then gets
//!   the new values in proportion (within a record or two), so marginals that span
//!   neighbouring cliques are nearly as exact as the cliques themselves; random matching
//!   left hypergeometric noise there (issue #21).
//!
//! Default: `Rounding`, chosen by measured fidelity (`tests/model_sampling.rs`,
//! `default_sampling_method_has_the_better_fidelity` and
//! `rounding_keeps_triples_across_neighbouring_cliques`): on adult, a model fitted to noisy
//! one-ways, a spanning tree and two 4-cycles (13 tree cliques), 100,000 records, mean L1
//! distance between the records' and the model's marginals:
//!
//! | tables                                    | Forward | Rounding, random matching | Rounding (stratified) |
//! |-------------------------------------------|---------|---------------------------|-----------------------|
//! | the 13 tree cliques                       | 0.0295  | 0.0030                    | 0.0030                |
//! | all 105 two-way marginals                 | 0.0154  | 0.0089                    | 0.0051                |
//! | pairs only triangulation links            | 0.0414  | 0.0028                    | 0.0028                |
//! | 20 triples across neighbouring cliques    | 0.0483  | 0.0286                    | 0.0121                |
//!
//! With controlled rounding the same four rows read 0.0028, 0.0050, 0.0022 and 0.0118.
//! On MST's adult models at epsilon 1 the stratified dealing cut the records' extra 3-way
//! error over the model's own from 0.0066 to 0.0039 (30 runs, `examples/mst_diagnose.rs`);
//! controlled rounding leaves it at 0.0040 (30 runs each, before and after: what is left
//! comes from triples across cliques, not from one-ways). It costs a sort per separator
//! group: 100,000 records on adult's MST model take about 140 ms of CPU rounding (59 ms
//! with random matching) and 50 ms forward (release).
//!
//! Sampling is post-processing of the fitted model with a seeded generator: it reads no
//! data and has no privacy cost (`proofs/mst.md` step 5, `proofs/aim.md` step 4, which
//! list these functions).

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

use super::graphical::GraphicalModel;
use super::layout::{strides, SubsetLayout};

/// How [`sample`] turns the model into records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SamplingMethod {
    /// Independent draws (ancestral sampling along the junction tree).
    Forward,
    /// Controlled rounding of conditional counts along the junction tree, dealt by strata,
    /// each attribute's pairs with those drawn before it balanced (`PairBalance`) in
    /// tables of up to `BALANCE_MAX_ROWS` (262,144) records.
    #[default]
    Rounding,
}

/// Largest number of strata a rounding step distinguishes (keys fit in 32 bits, packed
/// with a random tie-break into one `u64` sort key).
const KEY_SPACE: u64 = 1 << 32;

/// Records per forward-sampling chunk (one ChaCha stream each).
const CHUNK: usize = 8192;
const _: () = assert!(SAMPLE_CHUNK.is_multiple_of(CHUNK));

/// One tree clique's sampling table: for each separator cell `s`, the conditional
/// distribution over the clique's new attributes (the ones not in the separator).
struct Step {
    /// Attributes of the separator, with their strides in a separator index.
    sep: Vec<(usize, usize)>,
    /// New attributes, with (stride in the clique, size).
    new_attrs: Vec<(usize, usize, usize)>,
    /// Cells of the new attributes per separator cell.
    k: usize,
    /// `cells[s * k + r]`: offset in the clique of the r-th cell of separator cell s.
    cells: Vec<usize>,
    /// Probabilities `p(r | s)` at the same positions (rows sum to one); for forward
    /// sampling, their running sums within each row ([`Step::cumulative`]).
    cond: Vec<f64>,
    /// With one new attribute (every step of [`Step::for_clique`]): its code at each
    /// position of `cells`, so a record is written without dividing the offset.
    new_codes: Option<Vec<u32>>,
    /// How forward sampling writes the cell it drew.
    draws: Draws,
}

/// How [`forward`] turns a step's drawn position `r` (within its separator cell's row)
/// into codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Draws {
    /// One new attribute whose code is the position itself (its rows list its values in
    /// order, as [`Step::from_table`] builds them): no table read, no division.
    Position(usize),
    /// Anything else: decode the clique offset `cells[s * k + r]`.
    Cells,
}

impl Step {
    /// The steps of tree clique `c`: its new attributes one at a time, each conditioned on
    /// the separator and the new attributes before it (the chain rule inside the clique).
    /// One attribute per step makes each step's columns the values of one attribute, so
    /// [`controlled_round`] keeps every one-way total within one record of the model's
    /// (a whole clique's cells as columns would leave a one-way to a sum of many
    /// independently rounded cells: a one-clique model of four columns was off by four
    /// records in a one-way).
    fn for_clique(model: &GraphicalModel, c: usize) -> Vec<Self> {
        let cal = model.calibrated();
        let tree = model.junction_tree();
        let attrs = tree.cliques()[c].attrs();
        let sep = tree.separator(c);
        let shape = &cal.engine.shapes[c];
        let probs = cal.clique(c);
        let new: Vec<usize> = attrs
            .iter()
            .copied()
            .filter(|&a| !sep.contains(a))
            .collect();
        if new.len() <= 1 {
            return vec![Step::from_table(attrs, shape, probs, sep.attrs())];
        }
        let mut steps = Vec::with_capacity(new.len());
        let mut given: Vec<usize> = sep.attrs().to_vec();
        for (j, &a) in new.iter().enumerate() {
            let mut table_attrs = given.clone();
            table_attrs.push(a);
            table_attrs.sort_unstable();
            if j + 1 == new.len() {
                steps.push(Step::from_table(attrs, shape, probs, &given));
            } else {
                let layout = SubsetLayout::for_attrs(attrs, shape, &table_attrs);
                let mut small = vec![0.0; layout.small_cells()];
                layout.sum_into(probs, &mut small);
                let small_shape: Vec<usize> = attrs
                    .iter()
                    .zip(shape)
                    .filter(|(x, _)| table_attrs.binary_search(x).is_ok())
                    .map(|(_, &n)| n)
                    .collect();
                steps.push(Step::from_table(&table_attrs, &small_shape, &small, &given));
            }
            given = table_attrs;
        }
        steps
    }

    /// The step drawing `attrs \ sep_attrs` given `sep_attrs` from a table of probabilities
    /// `probs` over the sorted attributes `attrs` (shape `shape`).
    fn from_table(attrs: &[usize], shape: &[usize], probs: &[f64], sep_attrs: &[usize]) -> Self {
        let st = strides(shape);
        let layout = SubsetLayout::for_attrs(attrs, shape, sep_attrs);
        let n_sep = layout.small_cells();
        let k = layout.big_cells() / n_sep.max(1);
        let sep_shape: Vec<usize> = attrs
            .iter()
            .zip(shape)
            .filter(|(a, _)| sep_attrs.binary_search(a).is_ok())
            .map(|(_, &n)| n)
            .collect();
        let sep_st = strides(&sep_shape);
        let sep = sep_attrs.iter().copied().zip(sep_st).collect();
        let new_attrs: Vec<(usize, usize, usize)> = attrs
            .iter()
            .enumerate()
            .filter(|(_, a)| sep_attrs.binary_search(a).is_err())
            .map(|(i, &a)| (a, st[i], shape[i]))
            .collect();
        let mut cells = vec![0usize; layout.big_cells()];
        let mut fill = vec![0usize; n_sep];
        layout.for_each_cell(|b, s| {
            cells[s * k + fill[s]] = b;
            fill[s] += 1;
        });
        let mut cond: Vec<f64> = cells.iter().map(|&b| probs[b].max(0.0)).collect();
        for row in cond.chunks_mut(k.max(1)) {
            let z: f64 = row.iter().sum();
            if z > 0.0 {
                row.iter_mut().for_each(|p| *p /= z);
            } else {
                // A separator value of probability zero; no record reaches it, but keep the row valid.
                row.iter_mut().for_each(|p| *p = 1.0 / k as f64);
            }
        }
        let new_codes: Option<Vec<u32>> = match new_attrs[..] {
            [(_, stride, size)] => Some(
                cells
                    .iter()
                    .map(|&b| ((b / stride) % size) as u32)
                    .collect(),
            ),
            _ => None,
        };
        let draws = match (&new_codes, new_attrs.first()) {
            (Some(codes), Some(&(a, _, _)))
                if codes
                    .iter()
                    .enumerate()
                    .all(|(i, &c)| c as usize == i % k.max(1)) =>
            {
                Draws::Position(a)
            }
            _ => Draws::Cells,
        };
        Step {
            sep,
            new_attrs,
            k,
            cells,
            cond,
            new_codes,
            draws,
        }
    }

    /// The step with each row of `cond` replaced by its running sums, as forward sampling
    /// reads it. Done once per [`Sampler`]: redoing it per chunk (as before session 12)
    /// copied the whole model's cells for every 65,536 records drawn (NIST's 7.4 million
    /// cells, 59 MB, 27 times per error-bar replicate).
    fn cumulative(mut self) -> Self {
        for row in self.cond.chunks_mut(self.k.max(1)) {
            let mut acc = 0.0;
            for p in row.iter_mut() {
                acc += *p;
                *p = acc;
            }
        }
        self
    }

    #[cfg(test)]
    fn sep_index(&self, row: &[u32]) -> usize {
        self.sep.iter().map(|&(a, s)| row[a] as usize * s).sum()
    }

    #[cfg(test)]
    fn write(&self, cell: usize, row: &mut [u32]) {
        for &(a, stride, size) in &self.new_attrs {
            row[a] = ((cell / stride) % size) as u32;
        }
    }

    /// Writes the new attributes of position `i` of `cells` (separator cell `i / k`, the
    /// `i % k`-th cell of the new attributes) into record `rec` of column-major `cols`.
    fn write_at(&self, i: usize, rec: usize, cols: &mut [Vec<u32>]) {
        match (&self.new_codes, self.new_attrs.first()) {
            (Some(codes), Some(&(a, _, _))) => cols[a][rec] = codes[i],
            _ => {
                for &(a, stride, size) in &self.new_attrs {
                    cols[a][rec] = ((self.cells[i] / stride) % size) as u32;
                }
            }
        }
    }
}

/// Records per sampling chunk. A release is drawn chunk by chunk (each chunk's records
/// decoded and written before the next chunk's are held), so memory does not grow with the
/// number of synthetic records. Tables of at most this many records are one chunk, drawn
/// exactly as before chunking existed (same seed, same records).
pub const SAMPLE_CHUNK: usize = 1 << 16;

/// `rows` records from the model, column-major (one `Vec<u32>` of codes per attribute),
/// reproducible from `seed`: the chunks of [`Sampler`] one after another.
pub fn sample(
    model: &GraphicalModel,
    rows: usize,
    seed: u64,
    method: SamplingMethod,
) -> Vec<Vec<u32>> {
    let sampler = Sampler::new(model, rows, seed, method);
    let n_attrs = model.domain().len();
    let mut cols: Vec<Vec<u32>> = vec![Vec::with_capacity(rows); n_attrs];
    for i in 0..sampler.n_chunks() {
        for (col, part) in cols.iter_mut().zip(sampler.chunk(i)) {
            col.extend_from_slice(&part);
        }
    }
    cols
}

/// Draws a model's records chunk by chunk ([`SAMPLE_CHUNK`] records each, the last one
/// shorter), so a caller can decode and write each chunk before the next is drawn.
///
/// Chunk `i` depends only on the model, the seed and `i`:
/// - forward sampling draws chunk `i`'s records from the same per-8,192-record ChaCha
///   streams as one whole draw would, so chunking changes nothing;
/// - rounding rounds each chunk on its own, from ChaCha stream `i` of the seed (chunk 0 is
///   stream 0, the stream a whole draw used before chunking). Each chunk's one-way counts
///   are within one record of their expectation given the chunk's size, so a one-way of
///   the whole table is within one record per chunk (e.g. 150 records in 9.8 million).
pub struct Sampler {
    steps: Vec<Step>,
    /// Rounding only: each step's stratification key.
    keys: Vec<Vec<(usize, u64)>>,
    /// The attributes' sizes (their number: the records' width; [`PairBalance`] reads the
    /// sizes).
    sizes: Vec<usize>,
    rows: usize,
    seed: u64,
    method: SamplingMethod,
}

impl Sampler {
    pub fn new(model: &GraphicalModel, rows: usize, seed: u64, method: SamplingMethod) -> Self {
        let tree = model.junction_tree();
        // Each tree clique's steps, with the clique's position in the drawing order.
        let mut steps: Vec<Step> = Vec::new();
        let mut clique_of: Vec<usize> = Vec::new();
        for (i, &c) in tree.order().iter().enumerate() {
            for st in Step::for_clique(model, c) {
                steps.push(match method {
                    SamplingMethod::Forward => st.cumulative(),
                    SamplingMethod::Rounding => st,
                });
                clique_of.push(i);
            }
        }
        let keys = match method {
            SamplingMethod::Forward => Vec::new(),
            SamplingMethod::Rounding => {
                // A clique's steps share its strata: the attributes a later step of the
                // same clique is also conditioned on are constant within its groups.
                let per_clique = stratification_keys(model);
                clique_of.iter().map(|&i| per_clique[i].clone()).collect()
            }
        };
        Sampler {
            steps,
            keys,
            sizes: model.domain().sizes().to_vec(),
            rows,
            seed,
            method,
        }
    }

    /// Number of records drawn in all.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of chunks (0 when no records are drawn).
    pub fn n_chunks(&self) -> usize {
        self.rows.div_ceil(SAMPLE_CHUNK)
    }

    /// The first record of chunk `i`.
    pub fn chunk_start(&self, i: usize) -> usize {
        i * SAMPLE_CHUNK
    }

    /// Chunk `i`'s records, column-major (empty columns past the last chunk).
    pub fn chunk(&self, i: usize) -> Vec<Vec<u32>> {
        let mut cols = Vec::new();
        self.chunk_into(i, &mut cols);
        cols
    }

    /// [`Sampler::chunk`] into `cols`, whose vectors are reused: a caller that hands back
    /// the last chunk's columns saves allocating, zeroing and faulting in a few megabytes
    /// per chunk (with the rounding's buffers, kept per thread: about 6% of `dpsynth
    /// sample`'s CPU on adult x 200). The same records either way.
    pub fn chunk_into(&self, i: usize, cols: &mut Vec<Vec<u32>>) {
        let start = self.chunk_start(i).min(self.rows);
        let len = (self.rows - start).min(SAMPLE_CHUNK);
        match self.method {
            SamplingMethod::Forward => {
                *cols = forward(
                    &self.steps,
                    self.sizes.len(),
                    len,
                    self.seed,
                    (i * (SAMPLE_CHUNK / CHUNK)) as u64,
                )
            }
            SamplingMethod::Rounding => {
                let mut rng = ChaCha20Rng::seed_from_u64(self.seed);
                rng.set_stream(i as u64);
                let balance = self.rows <= BALANCE_MAX_ROWS;
                ROUNDING_SCRATCH.with(|scratch| {
                    rounding(
                        &self.steps,
                        &self.keys,
                        &self.sizes,
                        len,
                        balance,
                        &mut rng,
                        cols,
                        &mut scratch.borrow_mut(),
                    )
                })
            }
        }
    }
}

/// The first `rows` records of row-major codes (`n_attrs` per record) as columns, the
/// samplers' output shape.
pub(crate) fn to_columns(row_major: &[u32], n_attrs: usize, rows: usize) -> Vec<Vec<u32>> {
    let mut cols = vec![Vec::with_capacity(rows); n_attrs];
    for row in row_major.chunks(n_attrs.max(1)).take(rows) {
        for (col, &v) in cols.iter_mut().zip(row) {
            col.push(v);
        }
    }
    cols
}

/// `rows` independent records from `steps` in their [`Step::cumulative`] form, column-major;
/// the `j`-th run of [`CHUNK`] records draws from ChaCha stream `first_stream + j`, one
/// uniform per record and step, record by record (record 0's steps, then record 1's, ...).
///
/// A run's uniforms are drawn first, in that order, and the run is then walked step by step
/// over all its records: the same records as drawing record by record, but a step's lookups of different records do not wait on
/// each other, so their cache misses in the model's tables overlap (record by record, each
/// step's table row depends on the previous step's draw). A unit test checks the records
/// against record-by-record drawing.
fn forward(
    steps: &[Step],
    n_attrs: usize,
    rows: usize,
    seed: u64,
    first_stream: u64,
) -> Vec<Vec<u32>> {
    if n_attrs == 0 {
        return vec![Vec::new(); n_attrs];
    }
    let runs: Vec<Vec<u32>> = (0..rows.div_ceil(CHUNK))
        .into_par_iter()
        .map(|run| {
            let len = CHUNK.min(rows - run * CHUNK);
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            rng.set_stream(first_stream + run as u64);
            // Uniforms by step: `u[t * len + j]` is record `j`'s draw for step `t`.
            let n_steps = steps.len();
            let mut u = vec![0.0f64; n_steps * len];
            for j in 0..len {
                for t in 0..n_steps {
                    u[t * len + j] = rng.gen::<f64>();
                }
            }
            // The run's records attribute by attribute: `cols[a * len + j]`.
            let mut cols = vec![0u32; n_attrs * len];
            let mut sep = vec![0usize; len];
            for (st, u) in steps.iter().zip(u.chunks_exact(len)) {
                sep.fill(0);
                for &(a, stride) in &st.sep {
                    for (s, &c) in sep.iter_mut().zip(&cols[a * len..(a + 1) * len]) {
                        *s += c as usize * stride;
                    }
                }
                let k = st.k;
                let pick = |s: usize, u: f64| -> usize {
                    let block = &st.cond[s * k..(s + 1) * k];
                    let u = u * block[k - 1];
                    block.partition_point(|&c| c <= u).min(k - 1)
                };
                match st.draws {
                    Draws::Position(a) => {
                        let out = &mut cols[a * len..(a + 1) * len];
                        for ((o, &s), &u) in out.iter_mut().zip(&sep).zip(u) {
                            *o = pick(s, u) as u32;
                        }
                    }
                    Draws::Cells => {
                        for (j, (&s, &u)) in sep.iter().zip(u).enumerate() {
                            let cell = st.cells[s * k + pick(s, u)];
                            for &(a, stride, size) in &st.new_attrs {
                                cols[a * len + j] = ((cell / stride) % size) as u32;
                            }
                        }
                    }
                }
            }
            cols
        })
        .collect();
    let mut out: Vec<Vec<u32>> = vec![Vec::with_capacity(rows); n_attrs];
    for (run, cols) in runs.iter().enumerate() {
        let len = CHUNK.min(rows - run * CHUNK);
        for (a, col) in out.iter_mut().enumerate() {
            col.extend_from_slice(&cols[a * len..(a + 1) * len]);
        }
    }
    out
}

/// Integer counts summing to `n` whose expectations are `n * p` (p sums to one): floors
/// plus one extra record for a systematic sample of cells with probability equal to their
/// fractional parts.
fn round_counts(p: &[f64], n: usize, rng: &mut ChaCha20Rng, out: &mut Vec<usize>) {
    out.clear();
    let mut frac = Vec::with_capacity(p.len());
    let mut assigned = 0usize;
    for &q in p {
        let t = q * n as f64;
        let f = t.floor();
        out.push(f as usize);
        assigned += f as usize;
        frac.push(t - f);
    }
    let deficit = n.saturating_sub(assigned);
    if deficit == 0 {
        return;
    }
    let mut next = rng.gen::<f64>();
    let mut cum = 0.0;
    let mut picked = 0usize;
    let mut got = vec![false; p.len()];
    for (i, &f) in frac.iter().enumerate() {
        cum += f;
        if picked < deficit && next < cum {
            out[i] += 1;
            got[i] = true;
            picked += 1;
            next += 1.0;
        }
    }
    // Floating-point slack: give any remainder to the largest fractional parts not yet used
    // (never to a cell of probability zero: a structural zero stays empty).
    if picked < deficit {
        let mut idx: Vec<usize> = (0..p.len()).filter(|&i| !got[i] && p[i] > 0.0).collect();
        if idx.is_empty() {
            idx = (0..p.len()).filter(|&i| p[i] > 0.0).collect();
        }
        idx.sort_by(|&a, &b| frac[b].total_cmp(&frac[a]).then(a.cmp(&b)));
        for &i in idx.iter().cycle().take(deficit - picked) {
            out[i] += 1;
        }
    }
}

/// Fractional parts within this of 0 or 1 count as whole (floating-point slack; the bias
/// this allows is below 1e-9 record per cell).
const SNAP: f64 = 1e-9;

/// A column whose fractional parts sum to within this of an integer needs no share of the
/// slack row (sums of many f64 terms carry more slack than one term).
const SNAP_SUM: f64 = 1e-6;

/// Controlled rounding of one step's expected counts (Cox 1987), by dependent rounding on
/// a bipartite graph (Gandhi, Khuller, Parthasarathy, Srinivasan 2006).
///
/// `groups` lists the separator cells that hold records, with their sizes `n_i`; the
/// expected count of new cell `v` in group `i` is `x[i][v] = n_i * cond[s_i][v]`. On return
/// `counts[i * k + v]` holds integers such that
/// - every entry is the floor or the ceiling of `x[i][v]`, and `E[count] = x[i][v]`;
/// - every row sums to its group size `n_i`;
/// - every column sums to the floor or the ceiling of its expected total
///   `X_v = sum_i x[i][v]` (the totals sum to the number of records).
///
/// Why: rounding each group on its own (systematic rounding, unbiased, within one record
/// per cell) lets the errors of many groups add up in the columns, so a one-way marginal
/// of the records drifted from the model's by several records even when the model fitted
/// the data exactly. Here the column totals are rounded together with the table.
///
/// How: the fractional parts `f = x - floor(x)` are the edges of a bipartite graph between
/// rows and columns; row sums of `f` are integers. A slack row gets an edge to column `v`
/// of weight `ceil(F_v) - F_v` (`F_v` the column's fractional sum), so every vertex's sum
/// is an integer and every vertex has no fractional edge or at least two: a walk along
/// fractional edges always closes a cycle (even, as the graph is bipartite). Alternate
/// `+a, -a` around the cycle with `a = alpha` (probability `beta / (alpha + beta)`) or
/// `a = -beta` (probability `alpha / (alpha + beta)`), where `alpha` and `beta` are the
/// largest steps keeping every edge in `[0, 1]`: each edge's expectation is unchanged, each
/// vertex's sum is unchanged, and at least one edge becomes 0 or 1. A column's total then
/// differs from `ceil(F_v)` by its slack edge (0 or 1), so it is `floor` or `ceil` of
/// `X_v`. The walk keeps its path after a cycle is rounded (up to the first edge that
/// became whole), and edges leave adjacency lists lazily (each passed over once), so the
/// cost is the total length of the cycles rounded: a cycle is at most twice the smaller
/// side of the graph plus two long and, in practice, a few edges (the walk revisits the
/// first edges of each vertex). Maximal paths (only through floating-point slack) are
/// rounded the same way.
///
/// Local cycles: groups come in separator-cell order (the separator's first attribute
/// most significant) and the walk leaves a column for the next group in that order that
/// still has a fraction there, so each move shifts a column's count between neighbouring
/// groups and the errors of a run of groups (e.g. all cells with one value of the
/// separator's first attribute) cancel instead of adding up. Which cycle is rounded does
/// not change any expectation. With swap-removal the walk jumped to far groups: on adult
/// epsilon 10's AIM models the records' mean 3-way L1 was 0.0002-0.0004 higher (4 draws
/// of each of 4 models, every pair in the same direction; docs/performance.md, session 26).
///
/// Post-processing of the fitted model with a seeded generator: no privacy cost
/// (`proofs/mst.md` step 5, `proofs/aim.md` step 4).
fn controlled_round(
    cond: &[f64],
    k: usize,
    groups: &[(usize, usize)],
    rng: &mut ChaCha20Rng,
    counts: &mut Vec<usize>,
) {
    counts.clear();
    counts.resize(groups.len() * k, 0);
    let m = groups.len();
    let n_vertices = m + 1 + k;
    let Some(mut graph) = FracGraph::new(n_vertices) else {
        // Past 32-bit indices (more cells than any model holds): each group on its own.
        return round_each_group(cond, k, groups, rng, counts);
    };
    let mut col_frac = vec![0.0f64; k];
    for (i, &(s, n)) in groups.iter().enumerate() {
        let row = &cond[s * k..(s + 1) * k];
        let out = &mut counts[i * k..(i + 1) * k];
        for (v, (&p, c)) in row.iter().zip(out.iter_mut()).enumerate() {
            let t = n as f64 * p;
            let r = t.round();
            if (t - r).abs() <= SNAP {
                *c = r as usize;
                continue;
            }
            let f = t.floor();
            *c = f as usize;
            graph.push(i, m + 1 + v, t - f);
            col_frac[v] += t - f;
        }
    }
    let real_edges = graph.val.len();
    for (v, &fv) in col_frac.iter().enumerate() {
        let g = fv.ceil() - fv;
        if g > SNAP_SUM && g < 1.0 - SNAP_SUM {
            graph.push(m, m + 1 + v, g);
        }
    }
    if graph.val.len() >= NOWHERE as usize {
        return round_each_group(cond, k, groups, rng, counts);
    }
    graph.index();
    graph.round_all(rng, |e, g| {
        if e < real_edges {
            let [r, c] = g.ends[e];
            counts[r as usize * k + (c as usize - m - 1)] += 1;
        }
    });
    // Floating-point slack can leave a row one record off its size: mend it where the
    // rounding was closest to the other choice (never in a cell of probability zero).
    for (i, &(s, n)) in groups.iter().enumerate() {
        let row = &cond[s * k..(s + 1) * k];
        let out = &mut counts[i * k..(i + 1) * k];
        let mut sum: usize = out.iter().sum();
        while sum < n {
            let best = (0..k)
                .filter(|&v| row[v] > 0.0)
                .max_by(|&a, &b| {
                    let da = n as f64 * row[a] - out[a] as f64;
                    let db = n as f64 * row[b] - out[b] as f64;
                    da.total_cmp(&db).then(b.cmp(&a))
                })
                .unwrap_or(0);
            out[best] += 1;
            sum += 1;
        }
        while sum > n {
            let Some(best) = (0..k).filter(|&v| out[v] > 0).max_by(|&a, &b| {
                let da = out[a] as f64 - n as f64 * row[a];
                let db = out[b] as f64 - n as f64 * row[b];
                da.total_cmp(&db).then(b.cmp(&a))
            }) else {
                break;
            };
            out[best] -= 1;
            sum -= 1;
        }
    }
}

/// Each group's counts rounded on its own ([`round_counts`]): rows exact, columns not.
fn round_each_group(
    cond: &[f64],
    k: usize,
    groups: &[(usize, usize)],
    rng: &mut ChaCha20Rng,
    counts: &mut [usize],
) {
    let mut row = Vec::new();
    for (i, &(s, n)) in groups.iter().enumerate() {
        round_counts(&cond[s * k..(s + 1) * k], n, rng, &mut row);
        counts[i * k..(i + 1) * k].copy_from_slice(&row);
    }
}

/// The fractional edges of [`controlled_round`]: vertex `ends`, values, and adjacency
/// lists (CSR) in vertex order, from which whole edges leave lazily (skipped at the
/// list's head), so each list keeps its order.
struct FracGraph {
    ends: Vec<[u32; 2]>,
    val: Vec<f64>,
    done: Vec<bool>,
    start: Vec<usize>,
    /// Fractional edges left at each vertex.
    deg: Vec<u32>,
    adj: Vec<u32>,
    /// Where each vertex's list of fractional edges starts now (done edges before it).
    head: Vec<usize>,
}

const NOWHERE: u32 = u32::MAX;

impl FracGraph {
    fn new(n_vertices: usize) -> Option<Self> {
        if n_vertices >= NOWHERE as usize {
            return None;
        }
        Some(FracGraph {
            ends: Vec::new(),
            val: Vec::new(),
            done: Vec::new(),
            start: Vec::new(),
            deg: vec![0; n_vertices],
            adj: Vec::new(),
            head: Vec::new(),
        })
    }

    fn push(&mut self, a: usize, b: usize, f: f64) {
        self.ends.push([a as u32, b as u32]);
        self.val.push(f);
        self.deg[a] += 1;
        self.deg[b] += 1;
    }

    /// Builds the adjacency lists once every edge is in.
    fn index(&mut self) {
        let n = self.deg.len();
        self.start = vec![0; n + 1];
        for v in 0..n {
            self.start[v + 1] = self.start[v] + self.deg[v] as usize;
        }
        let mut fill = self.start[..n].to_vec();
        self.adj = vec![0; self.start[n]];
        self.head = self.start[..n].to_vec();
        self.done = vec![false; self.val.len()];
        for (e, ends) in self.ends.iter().enumerate() {
            for &v in ends {
                let v = v as usize;
                self.adj[fill[v]] = e as u32;
                fill[v] += 1;
            }
        }
    }

    fn other(&self, e: usize, v: usize) -> usize {
        let [a, b] = self.ends[e];
        if a as usize == v {
            b as usize
        } else {
            a as usize
        }
    }

    /// The first fractional edge in `v`'s list other than `not` (edges were pushed by
    /// group, so a column's list is in group order: the walk goes from a group to the next
    /// one that still has a fractional count in that column). Done edges at the head are
    /// skipped once; when `not` heads the list, done edges behind it are dropped by moving
    /// `not` up to them, so each done edge is passed over once.
    fn next_edge(&mut self, v: usize, not: Option<usize>) -> Option<usize> {
        let end = self.start[v + 1];
        let mut i = self.head[v];
        while i < end && self.done[self.adj[i] as usize] {
            i += 1;
        }
        self.head[v] = i;
        let first = self.adj[..end].get(i).map(|&e| e as usize)?;
        if Some(first) != not {
            return Some(first);
        }
        let mut j = i + 1;
        while j < end && self.done[self.adj[j] as usize] {
            j += 1;
        }
        if j > i + 1 {
            self.adj[j - 1] = first as u32;
            self.head[v] = j - 1;
        }
        self.adj[..end].get(j).map(|&e| e as usize)
    }

    fn remove(&mut self, e: usize) {
        self.done[e] = true;
        for v in self.ends[e] {
            self.deg[v as usize] -= 1;
        }
    }

    /// One dependent-rounding move on the alternating edges `cycle` (a cycle or a maximal
    /// path); `whole(e, self)` is called for every edge that becomes 1.
    fn round_alternating(
        &mut self,
        cycle: &[u32],
        rng: &mut ChaCha20Rng,
        whole: &mut impl FnMut(usize, &Self),
    ) {
        let (mut alpha, mut beta) = (f64::INFINITY, f64::INFINITY);
        for (i, &e) in cycle.iter().enumerate() {
            let f = self.val[e as usize];
            if i % 2 == 0 {
                alpha = alpha.min(1.0 - f);
                beta = beta.min(f);
            } else {
                alpha = alpha.min(f);
                beta = beta.min(1.0 - f);
            }
        }
        // Up by alpha on even edges with probability beta / (alpha + beta), else down by beta.
        let step = if rng.gen::<f64>() * (alpha + beta) < beta {
            alpha
        } else {
            -beta
        };
        for (i, &e) in cycle.iter().enumerate() {
            let e = e as usize;
            let f = &mut self.val[e];
            *f += if i % 2 == 0 { step } else { -step };
            if *f <= SNAP {
                *f = 0.0;
                self.remove(e);
            } else if *f >= 1.0 - SNAP {
                *f = 1.0;
                whole(e, self);
                self.remove(e);
            }
        }
    }

    /// Dependent rounding until no fractional edge is left.
    fn round_all(&mut self, rng: &mut ChaCha20Rng, mut whole: impl FnMut(usize, &Self)) {
        let n = self.deg.len();
        let mut at = vec![NOWHERE; n];
        let mut path: Vec<u32> = Vec::new();
        let mut edges: Vec<u32> = Vec::new();
        let mut cycle: Vec<u32> = Vec::new();
        for origin in 0..n {
            while self.deg[origin] > 0 {
                at[origin] = 0;
                path.push(origin as u32);
                let mut reversed = false;
                loop {
                    let w = path[path.len() - 1] as usize;
                    let came = edges.last().map(|&e| e as usize);
                    match self.next_edge(w, came) {
                        Some(e) => {
                            let x = self.other(e, w);
                            if at[x] == NOWHERE {
                                at[x] = path.len() as u32;
                                path.push(x as u32);
                                edges.push(e as u32);
                                continue;
                            }
                            // A cycle: from x along the path, back to x by e.
                            let i = at[x] as usize;
                            cycle.clear();
                            cycle.extend_from_slice(&edges[i..]);
                            cycle.push(e as u32);
                            self.round_alternating(&cycle, rng, &mut whole);
                            if let Some(j) =
                                (i..edges.len()).find(|&j| self.done[edges[j] as usize])
                            {
                                for &u in &path[j + 1..] {
                                    at[u as usize] = NOWHERE;
                                }
                                path.truncate(j + 1);
                                edges.truncate(j);
                            }
                        }
                        None if edges.is_empty() => break,
                        None if !reversed => {
                            // A dead end: extend the path from its other end.
                            reversed = true;
                            path.reverse();
                            edges.reverse();
                            for (p, &u) in path.iter().enumerate() {
                                at[u as usize] = p as u32;
                            }
                        }
                        None => {
                            // A maximal path (only through floating-point slack).
                            cycle.clear();
                            cycle.extend_from_slice(&edges);
                            self.round_alternating(&cycle, rng, &mut whole);
                            break;
                        }
                    }
                }
                for &u in &path {
                    at[u as usize] = NOWHERE;
                }
                path.clear();
                edges.clear();
            }
        }
    }
}

/// For each step (in tree order), the attributes already drawn that the step's records are
/// sorted by before their new attributes are dealt out, most significant first: those of
/// the parent clique, then the grandparent's, up to the root, then the rest in drawing
/// order (the separator is constant within a group and left out). Each comes with its
/// size; the list stops before the strata would exceed [`KEY_SPACE`].
fn stratification_keys(model: &GraphicalModel) -> Vec<Vec<(usize, u64)>> {
    let tree = model.junction_tree();
    let domain = model.domain();
    let mut drawn: Vec<usize> = Vec::new();
    let mut keys = Vec::with_capacity(tree.order().len());
    for &c in tree.order() {
        let sep = tree.separator(c);
        let mut attrs: Vec<usize> = Vec::new();
        let mut up = tree.parent(c);
        while let Some(p) = up {
            attrs.extend(tree.cliques()[p].attrs().iter().copied());
            up = tree.parent(p);
        }
        attrs.extend(drawn.iter().copied());
        let mut key = Vec::new();
        let mut seen = vec![false; domain.len()];
        let mut radix: u64 = 1;
        for a in attrs {
            if seen[a] || sep.contains(a) {
                continue;
            }
            seen[a] = true;
            let size = domain.size(a).max(1) as u64;
            match radix.checked_mul(size) {
                Some(r) if r <= KEY_SPACE => radix = r,
                _ => break,
            }
            key.push((a, size));
        }
        keys.push(key);
        for &a in tree.cliques()[c].attrs() {
            if !drawn.contains(&a) {
                drawn.push(a);
            }
        }
    }
    keys
}

/// Cell indices for `counts.iter().sum()` consecutive positions, each cell's occurrences
/// spread evenly over the sequence (cell `r`'s `j`-th copy at `(j + u_r) / counts[r]` of the
/// way along, `u_r` uniform): every run of consecutive positions gets each cell in
/// proportion to its count, within two. Dealt to records sorted by other attributes, it
/// keeps the new attributes' counts proportional within every stratum, not only overall.
/// Linear time: copies are bucketed by position (a counting sort), not compared.
fn spread_evenly(
    counts: &[usize],
    rng: &mut ChaCha20Rng,
    out: &mut Vec<u32>,
    scratch: &mut SpreadScratch,
) {
    let n: usize = counts.iter().sum();
    out.clear();
    out.resize(n, 0);
    if n == 0 {
        return;
    }
    let SpreadScratch { bucket_of, starts } = scratch;
    bucket_of.clear();
    starts.clear();
    starts.resize(n + 1, 0);
    for (r, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let u: f64 = rng.gen();
        // A multiplication per copy, not a division.
        let scale = n as f64 / c as f64;
        for j in 0..c {
            let b = (((j as f64 + u) * scale) as usize).min(n - 1);
            bucket_of.push((b as u32, r as u32));
            starts[b + 1] += 1;
        }
    }
    // The running sum in a register (through memory, each step waited on the last store).
    let mut at = 0;
    for x in starts.iter_mut() {
        at += *x;
        *x = at;
    }
    for &(b, r) in bucket_of.iter() {
        let b = b as usize;
        out[starts[b]] = r;
        starts[b] += 1;
    }
}

/// Buffers of [`spread_evenly`], reused across groups.
#[derive(Default)]
struct SpreadScratch {
    bucket_of: Vec<(u32, u32)>,
    starts: Vec<usize>,
}

/// Sorts `v` by the high 32 bits of its values, stably. For distinct values whose low
/// halves ascend within each high half (e.g. `key << 32 | position`, built in position
/// order) that is the order of `sort_unstable`. A least-significant-digit radix sort on
/// the high bytes that vary: linear time, and no pass over the low halves, which are
/// already in order.
fn sort_by_high_half(v: &mut Vec<u64>, scratch: &mut Vec<u64>) {
    let m = v.len();
    if !(64..u32::MAX as usize).contains(&m) {
        v.sort_unstable();
        return;
    }
    let first = (v[0] >> 32) as u32;
    let varying = v
        .iter()
        .fold(0u32, |acc, &k| acc | ((k >> 32) as u32 ^ first));
    if varying == 0 {
        return;
    }
    // Digits of up to 11 bits over the varying range (8 for small inputs, where clearing
    // 2,048 counters would cost more than a pass).
    let (low, high) = (varying.trailing_zeros(), 32 - varying.leading_zeros());
    let max_digit = if m >= 2048 { 11 } else { 8 };
    let passes = (high - low).div_ceil(max_digit) as usize;
    let digit = (high - low).div_ceil(passes as u32);
    let mask = (1u64 << digit) - 1;
    let buckets = 1usize << digit;
    // Every pass's digit counts in one read of the keys (`m` fits in u32: see above).
    let mut count = vec![0u32; buckets * passes];
    for &k in v.iter() {
        let h = k >> (32 + low);
        for (p, c) in count.chunks_exact_mut(buckets).enumerate() {
            c[((h >> (p as u32 * digit)) & mask) as usize] += 1;
        }
    }
    scratch.truncate(m);
    scratch.resize(m, 0);
    for (p, c) in count.chunks_exact_mut(buckets).enumerate() {
        let shift = 32 + low + p as u32 * digit;
        // A digit all keys share leaves their order as it is.
        if c[((v[0] >> shift) & mask) as usize] as usize == m {
            continue;
        }
        // Where each digit's keys start (the running sum kept in a register: a sum
        // through memory waited on the previous store at every counter).
        let mut at = 0u32;
        for x in c.iter_mut() {
            let n = *x;
            *x = at;
            at += n;
        }
        for &k in v.iter() {
            let d = ((k >> shift) & mask) as usize;
            scratch[c[d] as usize] = k;
            c[d] += 1;
        }
        std::mem::swap(v, scratch);
    }
}

/// Buffers of [`order_by_strata`], reused across groups and steps.
#[derive(Default)]
struct StrataScratch {
    keys: Vec<u64>,
    scratch: Vec<u64>,
    members: Vec<u32>,
    draws: Vec<u32>,
}

/// Orders a separator group's records by stratum, in uniformly random order within each
/// stratum: the group is shuffled ([`shuffle`]), then sorted by stratum stably (the key
/// `strata[rec] << 32 | position in the shuffled group`, sorted by its high half).
///
/// Strata are often shared by hundreds of records: sorting each such run again by random
/// draws (four more radix passes) took about a quarter of the keys sorted on adult x 200,
/// and one shuffle up front leaves no ties to break.
fn order_by_strata(
    group: &mut [u32],
    strata: &[u32],
    rng: &mut ChaCha20Rng,
    s: &mut StrataScratch,
) {
    shuffle(group, rng, &mut s.draws);
    s.keys.clear();
    s.keys.extend(
        group
            .iter()
            .enumerate()
            .map(|(p, &rec)| (strata[rec as usize] as u64) << 32 | p as u64),
    );
    sort_by_high_half(&mut s.keys, &mut s.scratch);
    s.members.clear();
    s.members.extend_from_slice(group);
    const LOW: u64 = 0xffff_ffff;
    for (g, &k) in group.iter_mut().zip(&s.keys) {
        *g = s.members[(k & LOW) as usize];
    }
}

/// Shuffles `v` uniformly (Fisher-Yates from the last position down), its indices from one
/// bulk read of `v.len() - 1` words of the stream, each mapped to `0..=i` by Lemire's
/// multiply-and-shift with rejection (exact; a rejected word is replaced by the next word
/// of the stream after the bulk read). One bulk read, not a generator call per index:
/// `SliceRandom::shuffle`'s calls were a sixth of `dpsynth sample`'s CPU on adult x 200.
fn shuffle(v: &mut [u32], rng: &mut ChaCha20Rng, draws: &mut Vec<u32>) {
    let n = v.len();
    if n < 2 {
        return;
    }
    draws.clear();
    draws.resize(n - 1, 0);
    rng.fill(&mut draws[..]);
    for (i, &d) in (1..n).rev().zip(draws.iter()) {
        let bound = (i + 1) as u64;
        let mut x = d as u64 * bound;
        if (x as u32 as u64) < bound {
            // Words whose low product falls below 2^32 mod bound would favour some
            // indices: draw again (Lemire 2019).
            let threshold = (1u64 << 32) % bound;
            while (x as u32 as u64) < threshold {
                x = rng.next_u32() as u64 * bound;
            }
        }
        v.swap(i, (x >> 32) as usize);
    }
}

/// The buffers of [`rounding`], kept from one chunk to the next on each thread.
#[derive(Default)]
struct RoundingScratch {
    counts: Vec<usize>,
    groups: Vec<(usize, usize)>,
    dealt: Vec<u32>,
    spread: SpreadScratch,
    sort: StrataScratch,
    members: Vec<u32>,
    sep_of: Vec<usize>,
    strata: Vec<u32>,
    starts: Vec<usize>,
    pos: Vec<usize>,
}

thread_local! {
    static ROUNDING_SCRATCH: std::cell::RefCell<RoundingScratch> =
        std::cell::RefCell::new(RoundingScratch::default());
}

/// A buffer of `rows` values, reused: its old contents stay where it already had the
/// length (every caller overwrites them before reading).
fn sized<T: Copy + Default>(v: &mut Vec<T>, rows: usize) {
    v.resize(rows, T::default());
}

/// `rows` records by controlled rounding along the tree, column-major (one code vector per
/// attribute): a step reads the separator and strata columns in order and writes one new
/// column, each a few hundred kilobytes, where row-major records spread every write over
/// the whole chunk.
///
/// With `balance`, each step's values are then swapped between records of a group towards
/// their expected pairs with the attributes drawn before ([`PairBalance`]).
///
/// The records go into `cols` (its vectors reused, [`Sampler::chunk_into`]); `scratch`
/// holds the step buffers between calls.
#[allow(clippy::too_many_arguments)]
fn rounding(
    steps: &[Step],
    keys: &[Vec<(usize, u64)>],
    sizes: &[usize],
    rows: usize,
    balance: bool,
    rng: &mut ChaCha20Rng,
    cols: &mut Vec<Vec<u32>>,
    scratch: &mut RoundingScratch,
) {
    let n_attrs = sizes.len();
    // The attributes drawn so far, in drawing order.
    let mut drawn: Vec<usize> = Vec::new();
    let mut pairs = PairBalance::default();
    // Every attribute is drawn for every record below (each is in a clique of the tree),
    // so a reused column's old codes are all overwritten; any attribute no step draws is
    // zeroed at the end.
    cols.resize_with(n_attrs, Vec::new);
    for col in cols.iter_mut() {
        sized(col, rows);
    }
    if n_attrs == 0 || rows == 0 {
        return;
    }
    let RoundingScratch {
        counts,
        groups,
        dealt,
        spread,
        sort,
        members,
        sep_of,
        strata,
        starts,
        pos,
    } = scratch;
    // Record indices in u32 (a chunk is far below 2^32 records): half the bytes to move.
    sized(members, rows);
    sized(sep_of, rows);
    // Strata are below KEY_SPACE = 2^32, and so is every partial key.
    sized(strata, rows);
    for (st, key) in steps.iter().zip(keys) {
        let n_sep = st.cells.len() / st.k.max(1);
        // Each record's separator cell and stratum, one attribute at a time (the first
        // attribute's term stored, not added to zeros: no pass to clear the buffers).
        match st.sep.split_first() {
            None => sep_of.fill(0),
            Some((&(a, stride), rest)) => {
                for (s, &c) in sep_of.iter_mut().zip(&cols[a]) {
                    *s = c as usize * stride;
                }
                for &(a, stride) in rest {
                    for (s, &c) in sep_of.iter_mut().zip(&cols[a]) {
                        *s += c as usize * stride;
                    }
                }
            }
        }
        if let Some((&(a, _), rest)) = key.split_first() {
            strata.copy_from_slice(&cols[a]);
            for &(a, size) in rest {
                let size = size as u32;
                for (k, &c) in strata.iter_mut().zip(&cols[a]) {
                    *k = *k * size + c;
                }
            }
        }
        // Balanced: the step's one new attribute (every step but a clique's with none).
        let balanced = match (&st.new_codes, &st.new_attrs[..]) {
            (Some(_), &[(a, _, _)]) if balance => {
                pairs.start(&drawn, key, &st.sep, st.k, sizes);
                Some(a)
            }
            _ => None,
        };
        // Group records by separator cell (counting sort keeps it linear): each group's
        // records in ascending order, the two halves of the chunk scattered side by side
        // (the second half's records after the first's in every group): two independent
        // chains of counter updates, where one waited on its own last store whenever
        // consecutive records shared a separator cell. Each record is counted once: the
        // first half's counts go where the second half's positions will be.
        let half = rows / 2;
        starts.clear();
        starts.resize(n_sep + 1, 0);
        pos.clear();
        pos.resize(2 * n_sep, 0);
        for &s in &sep_of[..half] {
            pos[n_sep + s] += 1;
        }
        for &s in &sep_of[half..] {
            starts[s + 1] += 1;
        }
        for s in 0..n_sep {
            starts[s + 1] += starts[s] + pos[n_sep + s];
            pos[n_sep + s] += starts[s];
        }
        pos[..n_sep].copy_from_slice(&starts[..n_sep]);
        let (pos_a, pos_b) = pos.split_at_mut(n_sep);
        for (r, (&sa, &sb)) in sep_of[..half]
            .iter()
            .zip(&sep_of[half..2 * half])
            .enumerate()
        {
            members[pos_a[sa]] = r as u32;
            pos_a[sa] += 1;
            members[pos_b[sb]] = (half + r) as u32;
            pos_b[sb] += 1;
        }
        if rows % 2 == 1 {
            let s = sep_of[rows - 1];
            members[pos_b[s]] = (rows - 1) as u32;
        }
        groups.clear();
        groups.extend(
            (0..n_sep)
                .map(|s| (s, starts[s + 1] - starts[s]))
                .filter(|&(_, n)| n > 0),
        );
        controlled_round(&st.cond, st.k, groups, rng, counts);
        for (i, &(s, _)) in groups.iter().enumerate() {
            let group = &mut members[starts[s]..starts[s + 1]];
            let group_counts = &counts[i * st.k..(i + 1) * st.k];
            if key.is_empty() {
                shuffle(group, rng, &mut sort.draws);
                // No strata: consecutive blocks of the shuffled records.
                dealt.clear();
                for (r, &cnt) in group_counts.iter().enumerate() {
                    dealt.extend(std::iter::repeat_n(r as u32, cnt));
                }
            } else {
                // Strata in key order, random order within each.
                order_by_strata(group, strata, rng, sort);
                spread_evenly(group_counts, rng, dealt, spread);
            }
            match (&st.new_codes, &st.new_attrs[..]) {
                // One new attribute: its codes for this separator cell, looked up once.
                (Some(codes), &[(a, _, _)]) => {
                    let (codes, col) = (&codes[s * st.k..(s + 1) * st.k], &mut cols[a]);
                    for (&rec, &r) in group.iter().zip(dealt.iter()) {
                        col[rec as usize] = codes[r as usize];
                    }
                }
                _ => {
                    for (&rec, &r) in group.iter().zip(dealt.iter()) {
                        st.write_at(s * st.k + r as usize, rec as usize, cols);
                    }
                }
            }
            if let Some(a) = balanced {
                pairs.group(group, group_counts, a, cols, rng);
            }
        }
        for &(a, _, _) in &st.new_attrs {
            drawn.push(a);
        }
    }
    for (a, col) in cols.iter_mut().enumerate() {
        if !drawn.contains(&a) {
            col.fill(0);
        }
    }
}

/// Synthetic tables of at most this many records are balanced ([`PairBalance`]). The
/// records' extra error over the model's own shrinks with their number, and the swaps cost
/// about a tenth of a second per 50,000 records of adult (a second per 50,000 of a
/// 60-column table); a ten-million-record table is left as it was.
const BALANCE_MAX_ROWS: usize = 4 * SAMPLE_CHUNK;

/// Swap attempts per record and step ([`PairBalance`]).
const BALANCE_TRIES: usize = 2;

/// Cap on a step's attribute evaluations per record: wide tables get fewer attempts (one at
/// least).
const BALANCE_WORK: usize = 32;

/// Attributes balanced against a step's new one, at most ([`PairBalance`]): the work per
/// record and step grows with their number, so a table of hundreds of columns is
/// balanced against the step's stratification attributes and the latest drawn.
const BALANCE_ATTRS: usize = 32;

/// Cells of one pair's table `D_x` ([`PairBalance`]): an attribute with more values than
/// this allows beside the new one is left out of the step's balancing (two columns of
/// 5,000 codes each would need 25 million cells). With [`BALANCE_ATTRS`], a step's tables
/// hold at most 2^21 cells (16 MB per sampling thread).
const BALANCE_PAIR_CELLS: usize = 1 << 16;

/// Pairwise balancing of a rounding step (post-processing of the model's conditionals).
///
/// Controlled rounding keeps each separator cell's counts of the new attribute `z`, and
/// dealing by strata keeps `z` proportional along one sort order; the joint counts of `z`
/// with any other attribute `x` drawn before it still scatter around their expectation
/// `sum_r p(z | s_r)` over the records `r` with that `x` (the model says `z` depends on
/// the record only through its separator cell `s_r`). After a group's values are dealt,
/// random swaps of `z` between two of its records are kept when they lower
/// `sum_x sum_(v, z) |D_x[v][z]|`, where `D_x[v][z]` is the count of records with
/// `(x, z) = (v, z)` less its expectation given the groups dealt so far in the chunk
/// (a group adds `n_(g, v) * c_(g, z) / n_g`: its records with `x = v` times its share
/// of `z`). A swap between records of one group keeps every group's counts, so every
/// marginal within a step's clique stays as controlled rounding left it; the swaps only
/// move which records of a group get which value. On AIM's and MST's models of adult and
/// NIST (docs/performance.md, session 26) the records' mean 3-way L1 fell by 0.001-0.003,
/// a third to a half of their extra error over the model's own.
///
/// Post-processing of the fitted model with a seeded generator: no privacy cost
/// (`proofs/mst.md` step 5, `proofs/aim.md` step 4).
#[derive(Default)]
struct PairBalance {
    /// The attributes `x` (drawn before, not in the separator), with the offset of their
    /// `D_x` (row-major, `size(x)` rows of `k` values) in `d`.
    xs: Vec<(usize, usize)>,
    /// Values of the new attribute.
    k: usize,
    d: Vec<f64>,
    /// Swap attempts per record this step.
    tries: usize,
    /// Scratch: records per value of one `x` in a group, and the values seen.
    hist: Vec<u32>,
    touched: Vec<u32>,
    shares: Vec<(usize, f64)>,
}

impl PairBalance {
    /// A new step: attributes `drawn` before it, less its separator's (constant within a
    /// group, so no swap moves their pairs) and those whose tables would pass
    /// [`BALANCE_PAIR_CELLS`]; past [`BALANCE_ATTRS`] of them, the stratification `key`'s
    /// and the latest drawn.
    fn start(
        &mut self,
        drawn: &[usize],
        key: &[(usize, u64)],
        sep: &[(usize, usize)],
        k: usize,
        sizes: &[usize],
    ) {
        self.xs.clear();
        self.k = k;
        let mut chosen: Vec<usize> = drawn
            .iter()
            .copied()
            .filter(|&x| {
                sep.iter().all(|&(y, _)| y != x) && sizes[x].saturating_mul(k) <= BALANCE_PAIR_CELLS
            })
            .collect();
        if chosen.len() > BALANCE_ATTRS {
            // The key's attributes first, then the latest drawn; kept in drawing order.
            let mut ranked: Vec<usize> = key
                .iter()
                .map(|&(x, _)| x)
                .filter(|x| chosen.contains(x))
                .collect();
            for &x in chosen.iter().rev() {
                if ranked.len() == BALANCE_ATTRS {
                    break;
                }
                if !ranked.contains(&x) {
                    ranked.push(x);
                }
            }
            ranked.truncate(BALANCE_ATTRS);
            chosen.retain(|x| ranked.contains(x));
        }
        let mut at = 0;
        for x in chosen {
            self.xs.push((x, at));
            at += sizes[x] * k;
        }
        self.d.clear();
        self.d.resize(at, 0.0);
        self.tries = (BALANCE_WORK / self.xs.len().max(1)).clamp(1, BALANCE_TRIES);
        let largest = self.xs.iter().map(|&(x, _)| sizes[x]).max().unwrap_or(0);
        self.hist.clear();
        self.hist.resize(largest, 0);
    }

    /// Adds a dealt group (its records `group`, its counts of each value of attribute `a`)
    /// to `D`, then swaps `a`'s codes between its records where that lowers `D`'s L1.
    fn group(
        &mut self,
        group: &[u32],
        counts: &[usize],
        a: usize,
        cols: &mut [Vec<u32>],
        rng: &mut ChaCha20Rng,
    ) {
        let m = group.len();
        if m == 0 || self.xs.is_empty() {
            return;
        }
        let k = self.k;
        self.shares.clear();
        self.shares.extend(
            counts
                .iter()
                .enumerate()
                .filter(|&(_, &c)| c > 0)
                .map(|(z, &c)| (z, c as f64 / m as f64)),
        );
        let z_col = &cols[a];
        for &(x, off) in &self.xs {
            let x_col = &cols[x];
            self.touched.clear();
            for &r in group {
                let v = x_col[r as usize];
                if self.hist[v as usize] == 0 {
                    self.touched.push(v);
                }
                self.hist[v as usize] += 1;
            }
            for &v in &self.touched {
                let n_v = self.hist[v as usize] as f64;
                self.hist[v as usize] = 0;
                let row = &mut self.d[off + v as usize * k..off + (v as usize + 1) * k];
                for &(z, share) in &self.shares {
                    row[z] -= n_v * share;
                }
            }
            for &r in group {
                let (v, z) = (x_col[r as usize] as usize, z_col[r as usize] as usize);
                self.d[off + v * k + z] += 1.0;
            }
        }
        if m < 2 || self.shares.len() < 2 {
            return;
        }
        for _ in 0..self.tries * m {
            let r1 = group[rng.gen_range(0..m)] as usize;
            let r2 = group[rng.gen_range(0..m)] as usize;
            let (z1, z2) = (cols[a][r1] as usize, cols[a][r2] as usize);
            if z1 == z2 {
                continue;
            }
            // The change of sum |D| if r1 took z2 and r2 took z1.
            let mut change = 0.0;
            for &(x, off) in &self.xs {
                let (v1, v2) = (cols[x][r1] as usize, cols[x][r2] as usize);
                if v1 != v2 {
                    let (b1, b2) = (off + v1 * k, off + v2 * k);
                    let d = &self.d;
                    change += (d[b1 + z1] - 1.0).abs() - d[b1 + z1].abs()
                        + (d[b1 + z2] + 1.0).abs()
                        - d[b1 + z2].abs()
                        + (d[b2 + z2] - 1.0).abs()
                        - d[b2 + z2].abs()
                        + (d[b2 + z1] + 1.0).abs()
                        - d[b2 + z1].abs();
                }
            }
            if change < -1e-9 {
                for &(x, off) in &self.xs {
                    let (v1, v2) = (cols[x][r1] as usize, cols[x][r2] as usize);
                    if v1 != v2 {
                        let (b1, b2) = (off + v1 * k, off + v2 * k);
                        self.d[b1 + z1] -= 1.0;
                        self.d[b1 + z2] += 1.0;
                        self.d[b2 + z2] -= 1.0;
                        self.d[b2 + z1] += 1.0;
                    }
                }
                cols[a][r1] = z2 as u32;
                cols[a][r2] = z1 as u32;
            }
        }
    }

    /// `sum |D|`, for tests.
    #[cfg(test)]
    fn l1(&self) -> f64 {
        self.d.iter().map(|x| x.abs()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_sort_orders_as_sort_unstable() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        for n in [0usize, 1, 63, 64, 5000] {
            for bits in [1u32, 9, 20, 32] {
                let v: Vec<u64> = (0..n)
                    .map(|p| {
                        let k: u64 = rng.gen::<u32>() as u64 & ((1u64 << bits) - 1);
                        k << 32 | p as u64
                    })
                    .collect();
                let mut expect = v.clone();
                expect.sort_unstable();
                let (mut got, mut scratch) = (v, Vec::new());
                sort_by_high_half(&mut got, &mut scratch);
                assert_eq!(got, expect, "{n} {bits}");
            }
            // Constant high bits above the varying ones, and a digit in the middle that all
            // keys share (its pass is skipped).
            let v: Vec<u64> = (0..n)
                .map(|p| {
                    let r = rng.gen::<u32>() as u64;
                    (0xA500_0000 | (r & 0xF) << 20 | r >> 30) << 32 | p as u64
                })
                .collect();
            let mut expect = v.clone();
            expect.sort_unstable();
            let (mut got, mut scratch) = (v, vec![7; 3]);
            sort_by_high_half(&mut got, &mut scratch);
            assert_eq!(got, expect, "{n} gaps");
        }
    }

    /// The order is that of [`shuffle`] with the same generator followed by a stable sort
    /// by stratum (the standard library's), and the generator ends in the same state.
    #[test]
    fn strata_order_is_a_shuffle_then_a_stable_sort() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        for n in [0usize, 1, 2, 63, 64, 70, 3000] {
            for n_strata in [1u64, 3, 50, 1 << 31] {
                let strata: Vec<u32> = (0..2 * n)
                    .map(|_| (rng.gen::<u64>() % n_strata) as u32)
                    .collect();
                // Every other record, ascending.
                let group: Vec<u32> = (0..n as u32).map(|i| 2 * i + 1).collect();
                let mut a = ChaCha20Rng::seed_from_u64(n as u64);
                let mut b = a.clone();
                let mut expect = group.clone();
                shuffle(&mut expect, &mut a, &mut Vec::new());
                expect.sort_by_key(|&rec| strata[rec as usize]);
                let mut got = group.clone();
                order_by_strata(&mut got, &strata, &mut b, &mut StrataScratch::default());
                assert_eq!(got, expect, "{n} {n_strata}");
                assert_eq!(a.gen::<u64>(), b.gen::<u64>(), "the same draws were used");
            }
        }
    }

    /// Within a stratum every record is equally likely to come first: over 6,000 seeds,
    /// each of a stratum's 6 records leads about 1,000 times (a chi-square test at 5
    /// degrees of freedom, bound at its 0.999 quantile 20.5), whatever the input order.
    #[test]
    fn strata_order_is_uniform_within_a_stratum() {
        let strata: Vec<u32> = vec![7, 3, 7, 7, 1, 7, 7, 3, 7];
        let tied: Vec<usize> = (0..strata.len()).filter(|&r| strata[r] == 7).collect();
        let mut first = vec![0usize; strata.len()];
        let trials = 6000;
        for seed in 0..trials {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let mut group: Vec<u32> = (0..strata.len() as u32).collect();
            order_by_strata(&mut group, &strata, &mut rng, &mut StrataScratch::default());
            let got: Vec<u32> = group.iter().map(|&r| strata[r as usize]).collect();
            assert_eq!(got, vec![1, 3, 3, 7, 7, 7, 7, 7, 7]);
            first[group[3] as usize] += 1;
        }
        let e = trials as f64 / tied.len() as f64;
        let chi2: f64 = tied
            .iter()
            .map(|&r| (first[r] as f64 - e).powi(2) / e)
            .sum();
        assert!(chi2 < 20.5, "chi-square {chi2:.1}: {first:?}");
    }

    /// Every order is equally likely: 12,000 shuffles of 5 elements (120 orders, about 100
    /// each; chi-square at 119 degrees of freedom, bound at its 0.999 quantile 173), and the
    /// indices are the documented ones: the stream's words in order, by multiply-and-shift.
    #[test]
    fn shuffles_are_uniform_and_read_the_stream_in_order() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut seen = std::collections::HashMap::new();
        let mut draws = Vec::new();
        let trials = 12_000;
        for _ in 0..trials {
            let mut v: Vec<u32> = (0..5).collect();
            shuffle(&mut v, &mut rng, &mut draws);
            *seen.entry(v).or_insert(0usize) += 1;
        }
        assert_eq!(seen.len(), 120);
        let e = trials as f64 / 120.0;
        let chi2: f64 = seen.values().map(|&c| (c as f64 - e).powi(2) / e).sum();
        assert!(chi2 < 173.0, "chi-square {chi2:.1}");
        // Rejection needs a low product below 2^32 mod bound (a chance below 2^-22 per
        // index for these bounds): none in this stream, so the words decide every index.
        let mut a = ChaCha20Rng::seed_from_u64(11);
        let mut b = a.clone();
        let mut v: Vec<u32> = (0..1000).collect();
        shuffle(&mut v, &mut a, &mut draws);
        let mut expect: Vec<u32> = (0..1000).collect();
        for i in (1..1000usize).rev() {
            let j = (b.next_u32() as u64 * (i as u64 + 1)) >> 32;
            expect.swap(i, j as usize);
        }
        assert_eq!(v, expect);
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn edge_cases_do_not_panic() {
        use crate::marginal::{Clique, Domain};
        use crate::model::{estimate, EstimationOptions, Measurement};
        let opts = EstimationOptions::default();
        // No attributes at all.
        let (m, _) = estimate(&Domain::from_sizes(vec![]), &[], &opts, None).unwrap();
        for method in [SamplingMethod::Forward, SamplingMethod::Rounding] {
            assert!(sample(&m, 10, 1, method).is_empty());
        }
        // One attribute, zero and one rows, a size-1 attribute.
        let d = Domain::from_sizes(vec![3, 1]);
        let ms = vec![Measurement::new(Clique::new([0]), vec![5.0, 0.0, 5.0], 1.0)];
        let (m, _) = estimate(&d, &ms, &opts, None).unwrap();
        for method in [SamplingMethod::Forward, SamplingMethod::Rounding] {
            assert_eq!(sample(&m, 0, 1, method), vec![Vec::<u32>::new(); 2]);
            let one = sample(&m, 1, 1, method);
            assert_eq!(one[1], vec![0]);
            assert!(one[0][0] < 3);
        }
        assert!(m.try_project(&Clique::new([2])).is_err());
        let wide = Domain::from_sizes(vec![1 << 20; 3]);
        let (w, _) = estimate(&wide, &[], &opts, None).unwrap();
        assert!(matches!(
            w.try_project(&Clique::new([0, 1, 2])),
            Err(crate::model::ModelError::TooLarge { .. })
        ));
    }

    #[test]
    fn rounding_counts_sum_and_stay_within_one() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let p = [0.1, 0.25, 0.05, 0.3, 0.3];
        let mut out = Vec::new();
        for n in [0usize, 1, 7, 13, 1000] {
            round_counts(&p, n, &mut rng, &mut out);
            assert_eq!(out.iter().sum::<usize>(), n);
            for (c, q) in out.iter().zip(p) {
                assert!((*c as f64 - q * n as f64).abs() < 1.0);
            }
        }
    }

    #[test]
    fn rounding_is_unbiased() {
        // E[count] = n p: average over many draws. 20,000 draws of a Bernoulli-like
        // rounding error (bounded by 1) give a standard error below 0.004; 0.02 is 5 sigma
        // (failure probability < 1e-6 per cell).
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let p = [0.13, 0.41, 0.07, 0.39];
        let n = 3;
        let mut sum = [0.0; 4];
        let mut out = Vec::new();
        let draws = 20_000;
        for _ in 0..draws {
            round_counts(&p, n, &mut rng, &mut out);
            for (s, c) in sum.iter_mut().zip(&out) {
                *s += *c as f64;
            }
        }
        for (s, q) in sum.iter().zip(p) {
            assert!((s / draws as f64 - q * n as f64).abs() < 0.02);
        }
    }

    /// Checks the three promises of [`controlled_round`] on one table.
    fn check_controlled(cond: &[f64], k: usize, groups: &[(usize, usize)], counts: &[usize]) {
        let mut col = vec![0usize; k];
        let mut col_x = vec![0.0f64; k];
        for (i, &(s, n)) in groups.iter().enumerate() {
            let row = &counts[i * k..(i + 1) * k];
            assert_eq!(
                row.iter().sum::<usize>(),
                n,
                "row {i} sums to its group size"
            );
            for v in 0..k {
                let x = n as f64 * cond[s * k + v];
                assert!(
                    (row[v] as f64 - x).abs() < 1.0,
                    "cell ({i}, {v}): {} vs {x}",
                    row[v]
                );
                if cond[s * k + v] == 0.0 {
                    assert_eq!(row[v], 0, "a cell of probability zero stays empty");
                }
                col[v] += row[v];
                col_x[v] += x;
            }
        }
        for v in 0..k {
            assert!(
                (col[v] as f64 - col_x[v]).abs() < 1.0,
                "column {v}: {} vs expected {}",
                col[v],
                col_x[v]
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Every cell within one record of its expectation, rows exactly their group sizes,
        /// columns within one record of their expected totals, on random tables (zeros
        /// included). Rounding each group on its own fails the column promise.
        #[test]
        fn controlled_rounding_keeps_cells_rows_and_columns(
            k in 1usize..7,
            rows in proptest::collection::vec(
                (0usize..40, proptest::collection::vec(0u32..5, 6)), 1..12),
            seed in 0u64..1_000_000,
        ) {
            let mut cond = Vec::new();
            let mut groups = Vec::new();
            for (s, (n, w)) in rows.iter().enumerate() {
                let w = &w[..k];
                let z: u32 = w.iter().sum();
                for &x in w {
                    // Weights over a prime make fractional expectations everywhere.
                    cond.push(if z == 0 { 1.0 / k as f64 } else { x as f64 / z as f64 });
                }
                if *n > 0 {
                    groups.push((s, *n));
                }
            }
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let mut counts = Vec::new();
            controlled_round(&cond, k, &groups, &mut rng, &mut counts);
            check_controlled(&cond, k, &groups, &counts);
        }
    }

    #[test]
    fn controlled_rounding_is_unbiased() {
        // E[count] = x for every cell and E[column total] = X: 20,000 draws, each error
        // bounded by 1 (standard error below 0.004 per cell); 0.02 is 5 sigma.
        let cond = [
            0.13, 0.41, 0.07, 0.39, //
            0.25, 0.25, 0.3, 0.2, //
            0.0, 0.55, 0.3, 0.15, //
        ];
        let k = 4;
        let groups = [(0usize, 3usize), (1, 7), (2, 5)];
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let draws = 20_000;
        let mut sum = [0.0; 12];
        let mut counts = Vec::new();
        for _ in 0..draws {
            controlled_round(&cond, k, &groups, &mut rng, &mut counts);
            check_controlled(&cond, k, &groups, &counts);
            for (s, c) in sum.iter_mut().zip(&counts) {
                *s += *c as f64;
            }
        }
        for (i, &(s, n)) in groups.iter().enumerate() {
            for v in 0..k {
                let x = n as f64 * cond[s * k + v];
                let mean = sum[i * k + v] / draws as f64;
                assert!(
                    (mean - x).abs() < 0.02,
                    "cell ({i}, {v}): mean {mean}, expected {x}"
                );
            }
        }
    }

    /// Running errors of `controlled_round` over groups of one record each (`m` groups,
    /// `k` values, random conditionals): the largest and the mean, over 20 seeds, of
    /// `|sum_{i <= t} (count[i][v] - x[i][v])|` across every prefix `t` and value `v`.
    fn running_errors(m: usize, k: usize) -> (f64, f64) {
        let mut gen = ChaCha20Rng::seed_from_u64(5);
        let mut cond = Vec::with_capacity(m * k);
        for _ in 0..m {
            let w: Vec<f64> = (0..k).map(|_| gen.gen::<f64>() + 0.05).collect();
            let z: f64 = w.iter().sum();
            cond.extend(w.iter().map(|x| x / z));
        }
        let groups: Vec<(usize, usize)> = (0..m).map(|s| (s, 1)).collect();
        let mut counts = Vec::new();
        let (mut worst, mut total) = (0.0f64, 0.0f64);
        for seed in 0..20 {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            controlled_round(&cond, k, &groups, &mut rng, &mut counts);
            check_controlled(&cond, k, &groups, &counts);
            for v in 0..k {
                let mut err = 0.0f64;
                for i in 0..m {
                    err += counts[i * k + v] as f64 - cond[i * k + v];
                    worst = worst.max(err.abs());
                    total += err.abs();
                }
            }
        }
        (worst, total / (20 * m * k) as f64)
    }

    /// Local cycles keep runs of consecutive groups balanced. With two values every cycle
    /// pairs a group with the next one holding a fraction, and no running error reaches one
    /// record (swap-removal's walk: 1.87); with ten values the mean running error is 0.38
    /// (swap-removal: 0.49).
    #[test]
    fn controlled_rounding_keeps_runs_of_groups_balanced() {
        let (worst, _) = running_errors(20_000, 2);
        assert!(
            worst <= 1.0 + 1e-9,
            "a running error reached {worst} records"
        );
        let (worst, mean) = running_errors(5_000, 10);
        assert!(mean < 0.43, "mean running error {mean} (largest {worst})");
        assert!(worst < 3.0, "a running error reached {worst} records");
    }

    /// A model fitted to made-up measurements of `cliques` over attributes of `sizes`
    /// (cell `i` of each clique measured as `value(i)`).
    fn fitted_model(
        sizes: Vec<usize>,
        cliques: &[&[usize]],
        value: fn(usize) -> f64,
    ) -> GraphicalModel {
        use crate::marginal::{Clique, Domain};
        use crate::model::{estimate, EstimationOptions, Measurement};
        let domain = Domain::from_sizes(sizes);
        let ms: Vec<Measurement> = cliques
            .iter()
            .map(|c| {
                let cells: usize = c.iter().map(|&a| domain.size(a)).product();
                let values = (0..cells).map(value).collect();
                Measurement::new(Clique::new(c.iter().copied()), values, 1.0)
            })
            .collect();
        estimate(&domain, &ms, &EstimationOptions::default(), None)
            .unwrap()
            .0
    }

    /// A group's swaps keep its counts of the new attribute and lower `sum |D|`: 400
    /// records in one group, `x` with 6 values, `z` with 4 dealt at random.
    #[test]
    fn pair_balance_keeps_the_group_and_lowers_d() {
        let (m, sizes) = (400usize, vec![6usize, 4]);
        let mut gen = ChaCha20Rng::seed_from_u64(3);
        let x: Vec<u32> = (0..m).map(|_| gen.gen_range(0..6)).collect();
        let z: Vec<u32> = (0..m).map(|_| gen.gen_range(0..4)).collect();
        let mut counts = vec![0usize; 4];
        for &v in &z {
            counts[v as usize] += 1;
        }
        let group: Vec<u32> = (0..m as u32).collect();
        let run = |tries: usize| {
            let mut cols = vec![x.clone(), z.clone()];
            let mut pairs = PairBalance::default();
            pairs.start(&[0], &[], &[], 4, &sizes);
            pairs.tries = tries;
            let mut rng = ChaCha20Rng::seed_from_u64(9);
            pairs.group(&group, &counts, 1, &mut cols, &mut rng);
            (cols, pairs.l1())
        };
        let (before, l1_before) = run(0);
        let (after, l1_after) = run(BALANCE_TRIES);
        assert_eq!(before[0], after[0], "x is never touched");
        let mut got = vec![0usize; 4];
        for &v in &after[1] {
            got[v as usize] += 1;
        }
        assert_eq!(got, counts, "the group keeps its counts");
        assert!(
            l1_after < 0.25 * l1_before,
            "sum |D| {l1_before} -> {l1_after}"
        );
    }

    /// Attributes whose pair tables would be too large are left out, so a step over
    /// columns of thousands of codes keeps its memory bounded.
    #[test]
    fn pair_balance_leaves_out_large_pairs() {
        let mut pairs = PairBalance::default();
        // Attribute 0: 5,000 codes (5,000 x 300 cells, over the cap); 1 and 2: small.
        pairs.start(&[0, 1, 2], &[], &[(2, 1)], 300, &[5000, 10, 4, 300]);
        let kept: Vec<usize> = pairs.xs.iter().map(|&(x, _)| x).collect();
        assert_eq!(
            kept,
            vec![1],
            "the separator's attribute and the large one are out"
        );
        assert_eq!(pairs.d.len(), 10 * 300);
        // Many attributes of 200 codes beside 300: at most BALANCE_ATTRS of them.
        let sizes = vec![200usize; 60];
        let drawn: Vec<usize> = (0..59).collect();
        pairs.start(&drawn, &[], &[], 300, &sizes);
        assert_eq!(pairs.xs.len(), BALANCE_ATTRS);
        assert!(pairs.d.len() <= 1 << 21);
    }

    /// Past [`BALANCE_ATTRS`] attributes, a step balances its key's and the latest drawn,
    /// in drawing order; below it, every one.
    #[test]
    fn pair_balance_keeps_the_key_and_the_latest_attributes() {
        let mut pairs = PairBalance::default();
        let sizes = vec![3usize; 61];
        let drawn: Vec<usize> = (0..60).collect();
        pairs.start(&drawn, &[(5, 3), (7, 3)], &[(59, 1)], 3, &sizes);
        let kept: Vec<usize> = pairs.xs.iter().map(|&(x, _)| x).collect();
        let mut want = vec![5, 7];
        want.extend(29..59);
        assert_eq!(kept, want);
        pairs.start(&drawn[..20], &[(5, 3)], &[], 3, &sizes);
        assert_eq!(pairs.xs.len(), 20);
    }

    /// Balanced records' pairs are nearer the model's: a chain of five attributes, 3,000
    /// records, 8 seeds; the L1 distance of every pair's counts from `rows` times the
    /// model's pair marginal, summed over pairs, with balancing and without.
    #[test]
    fn balanced_records_pairs_are_nearer_the_model() {
        use crate::marginal::Clique;
        let model = fitted_model(
            vec![6, 5, 4, 6, 5],
            &[&[0, 1], &[1, 2], &[2, 3], &[3, 4]],
            |i| 3.0 + (i * 13 % 17) as f64,
        );
        let rows = 3000;
        let sampler = Sampler::new(&model, rows, 0, SamplingMethod::Rounding);
        let d = model.domain().len();
        let expected: Vec<((usize, usize), Vec<f64>)> = (0..d)
            .flat_map(|a| (a + 1..d).map(move |b| (a, b)))
            .map(|(a, b)| {
                let t = model.project(&Clique::new([a, b]));
                let total: f64 = t.values.iter().sum();
                (
                    (a, b),
                    t.values.iter().map(|v| v / total * rows as f64).collect(),
                )
            })
            .collect();
        let distance = |balance: bool| -> f64 {
            let mut sum = 0.0;
            for seed in 0..8 {
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                let mut cols = Vec::new();
                rounding(
                    &sampler.steps,
                    &sampler.keys,
                    &sampler.sizes,
                    rows,
                    balance,
                    &mut rng,
                    &mut cols,
                    &mut RoundingScratch::default(),
                );
                for ((a, b), want) in &expected {
                    let nb = model.domain().size(*b);
                    let mut got = vec![0.0; want.len()];
                    for (&u, &v) in cols[*a].iter().zip(&cols[*b]) {
                        got[u as usize * nb + v as usize] += 1.0;
                    }
                    sum += got
                        .iter()
                        .zip(want)
                        .map(|(g, w)| (g - w).abs())
                        .sum::<f64>();
                }
            }
            sum / 8.0
        };
        let (plain, balanced) = (distance(false), distance(true));
        assert!(
            balanced < 0.5 * plain,
            "pairs' L1 from the model: {plain} without balancing, {balanced} with"
        );
    }

    /// A small fitted model over four attributes (a chain 0-1-2-3).
    fn chain_model() -> GraphicalModel {
        fitted_model(vec![3, 4, 2, 5], &[&[0, 1], &[1, 2], &[2, 3]], |i| {
            10.0 + (i * 7 % 11) as f64
        })
    }

    #[test]
    fn chunked_forward_sampling_equals_one_whole_draw() {
        let model = chain_model();
        let rows = 2 * SAMPLE_CHUNK + 1234;
        let sampler = Sampler::new(&model, rows, 11, SamplingMethod::Forward);
        assert_eq!(sampler.n_chunks(), 3);
        let whole = forward(&sampler.steps, sampler.sizes.len(), rows, 11, 0);
        assert_eq!(sample(&model, rows, 11, SamplingMethod::Forward), whole);
    }

    /// Forward sampling as it was before session 23: record by record, each record's steps
    /// in order, one uniform per step from the run's stream.
    pub(super) fn forward_by_record(
        steps: &[Step],
        n_attrs: usize,
        rows: usize,
        seed: u64,
        first_stream: u64,
    ) -> Vec<Vec<u32>> {
        let mut out = vec![0u32; rows * n_attrs];
        if n_attrs == 0 {
            return vec![Vec::new(); n_attrs];
        }
        for (run, buf) in out.chunks_mut(CHUNK * n_attrs).enumerate() {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            rng.set_stream(first_stream + run as u64);
            for row in buf.chunks_mut(n_attrs) {
                for st in steps {
                    let s = st.sep_index(row);
                    let block = &st.cond[s * st.k..(s + 1) * st.k];
                    let u: f64 = rng.gen::<f64>() * block[st.k - 1];
                    let r = block.partition_point(|&c| c <= u).min(st.k - 1);
                    match st.draws {
                        Draws::Position(a) => row[a] = r as u32,
                        Draws::Cells => st.write(st.cells[s * st.k + r], row),
                    }
                }
            }
        }
        to_columns(&out, n_attrs, rows)
    }

    #[test]
    fn step_by_step_forward_sampling_draws_the_records_of_record_by_record_sampling() {
        // A tree with a three-attribute root and separators of one and two attributes.
        let wide = fitted_model(
            vec![3, 4, 2, 5, 3, 2],
            &[&[0, 1, 2], &[1, 2, 3], &[3, 4], &[0, 5]],
            |i| 1.0 + (i * 13 % 17) as f64,
        );
        for model in [chain_model(), wide] {
            for (rows, seed, first) in [(1, 3, 0), (CHUNK - 1, 5, 2), (3 * CHUNK + 17, 7, 9)] {
                let sampler = Sampler::new(&model, rows, seed, SamplingMethod::Forward);
                let drawn = forward(&sampler.steps, sampler.sizes.len(), rows, seed, first);
                assert_eq!(drawn.len(), model.domain().len());
                assert!(drawn.iter().all(|c| c.len() == rows));
                assert_eq!(
                    drawn,
                    forward_by_record(&sampler.steps, sampler.sizes.len(), rows, seed, first),
                );
            }
        }
    }

    #[test]
    fn rounding_chunks_are_reproducible_and_keep_one_ways_within_a_record_per_chunk() {
        let model = chain_model();
        let rows = 3 * SAMPLE_CHUNK + 5;
        let a = sample(&model, rows, 4, SamplingMethod::Rounding);
        assert_eq!(a, sample(&model, rows, 4, SamplingMethod::Rounding));
        // The first chunk is the draw of a table of one chunk (stream 0, as before chunking).
        let one = sample(&model, SAMPLE_CHUNK, 4, SamplingMethod::Rounding);
        for (x, y) in a.iter().zip(&one) {
            assert_eq!(&x[..SAMPLE_CHUNK], &y[..]);
        }
        // Later chunks are not copies of the first.
        assert_ne!(a[0][SAMPLE_CHUNK..2 * SAMPLE_CHUNK], a[0][..SAMPLE_CHUNK]);
        let sampler = Sampler::new(&model, rows, 4, SamplingMethod::Rounding);
        // Reused columns (of another chunk, longer, shorter, garbage-filled) give the same
        // records as fresh ones.
        let mut reused = vec![vec![u32::MAX; 7]; 2];
        for i in [3, 0, 1, 3, 2] {
            sampler.chunk_into(i, &mut reused);
            let start = sampler.chunk_start(i);
            for (x, y) in a.iter().zip(&reused) {
                assert_eq!(&x[start..start + y.len()], &y[..], "chunk {i}");
            }
            assert_eq!(reused.len(), a.len());
        }
        for (attr, col) in a.iter().enumerate() {
            let p = model.project(&crate::marginal::Clique::new([attr])).values;
            let total: f64 = p.iter().sum();
            for (v, &pv) in p.iter().enumerate() {
                let got = col.iter().filter(|&&c| c as usize == v).count() as f64;
                let want = pv / total * rows as f64;
                assert!(
                    (got - want).abs() <= sampler.n_chunks() as f64 + 1e-6,
                    "attribute {attr} value {v}: {got} records, expected {want:.2}"
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// A model fitted to the exact one-way and two-way counts of a small random table
        /// (pairs 0-1, 1-2, 0-2, 2-3: the junction tree has a three-attribute clique whose
        /// cells are fitted, not counted, so its expected counts are fractional) gives
        /// records whose one-way counts equal the table's exactly, and so does the counted
        /// pair 2-3. Rounding each clique's cells per separator group was off by up to a
        /// few records here.
        #[test]
        fn one_ways_are_exact_for_a_model_fitted_to_exact_counts(
            sizes in proptest::collection::vec(2usize..5, 4),
            data in proptest::collection::vec(proptest::collection::vec(0u32..1000, 4), 30..200),
            seed in 0u64..1_000_000,
        ) {
            use crate::marginal::{Clique, Domain};
            use crate::model::{estimate, EstimationOptions, Measurement};
            // Codes with some dependence: attribute j copies j-1 a third of the time.
            let rows: Vec<Vec<u32>> = data
                .iter()
                .map(|r| {
                    let mut out = vec![0u32; 4];
                    for j in 0..4 {
                        out[j] = if j > 0 && r[j] % 3 == 0 {
                            out[j - 1] % sizes[j] as u32
                        } else {
                            r[j] % sizes[j] as u32
                        };
                    }
                    out
                })
                .collect();
            let count = |attrs: &[usize]| -> Vec<f64> {
                let cells: usize = attrs.iter().map(|&a| sizes[a]).product();
                let mut t = vec![0.0; cells];
                for r in &rows {
                    let i = attrs.iter().fold(0usize, |i, &a| i * sizes[a] + r[a] as usize);
                    t[i] += 1.0;
                }
                t
            };
            let domain = Domain::from_sizes(sizes.clone());
            let cliques: Vec<Vec<usize>> =
                vec![vec![0], vec![1], vec![2], vec![3], vec![0, 1], vec![1, 2], vec![0, 2], vec![2, 3]];
            let ms: Vec<Measurement> = cliques
                .iter()
                .map(|c| Measurement::new(Clique::new(c.iter().copied()), count(c), 1.0))
                .collect();
            // Fitted to convergence: iterative proportional fitting solves consistent counts.
            let opts = EstimationOptions {
                ipf_sweeps: 500,
                max_iters: 3000,
                tol: 1e-15,
                ..EstimationOptions::default()
            };
            let (model, _) = estimate(&domain, &ms, &opts, None).unwrap();
            // Premise, not the property under test: the fit reproduces the counted tables
            // to 1e-4 of a record (a column total that close to an integer rounds to it but
            // with probability of about the distance). Fitting cells whose count is 0
            // converges slowly, and a rare table stops just above 1e-4 (seen in CI at
            // 1.0037e-4); such a case is discarded rather than reported as a sampler failure.
            for c in &cliques {
                let fitted = model.project(&Clique::new(c.iter().copied()));
                for (f, t) in fitted.values.iter().zip(count(c)) {
                    proptest::prop_assume!((f - t).abs() < 1e-4, "fit off by more than 1e-4");
                }
            }
            let n = rows.len();
            let cols = sample(&model, n, seed, SamplingMethod::Rounding);
            let sampled: Vec<Vec<u32>> = (0..n).map(|i| cols.iter().map(|c| c[i]).collect()).collect();
            for c in [vec![0], vec![1], vec![2], vec![3], vec![2, 3]] {
                let mut t = vec![0.0; count(&c).len()];
                for r in &sampled {
                    let i = c.iter().fold(0usize, |i, &a| i * sizes[a] + r[a] as usize);
                    t[i] += 1.0;
                }
                proptest::prop_assert_eq!(&t, &count(&c), "marginal {:?}", c);
            }
        }
    }
}
