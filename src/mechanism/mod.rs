//! Mechanisms: decide what to measure, spend the budget through the accountant, and hand
//! the noisy marginals to the model. They read data only through a `MarginalOracle`.

pub mod aim;
pub(crate) mod candidates;
pub mod compress;
pub mod evidence;
pub mod knowledge;
pub mod measure;
pub mod mst;
pub mod plan;
pub mod score;

use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::marginal::{Clique, Domain, MarginalTable, OracleError};
use crate::model::accuracy::{
    combine_supported, AccuracyReport, BootstrapOptions, CliqueAccuracy, DomainMap, ReportInputs,
    SelectionBound, SelectionEvidence, SelectionRound, Supported,
};
use crate::model::{
    EstimationOptions, EstimationReport, GraphicalModel, Measurement, ModelError, Sampler,
    SamplingMethod,
};
use crate::privacy::{Accountant, Budget, LedgerEntry, PrivacyError, PrivacyUnit};

pub use aim::{aim, AimOptions, Workload};
pub use compress::{Compression, CompressionMap};
pub use knowledge::{effective_schema, SchemaKnowledge};
pub use mst::{mst, MstOptions};

#[derive(Debug, thiserror::Error)]
pub enum MechanismError {
    #[error("the schema has no modelled columns")]
    EmptyDomain,
    #[error(
        "the model size cap of {0} MB is too small for these columns: AIM's model starts from every one-way marginal and grows within the cap as the budget is spent; raise --max-model-size"
    )]
    NoCandidate(f64),
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Oracle(#[from] OracleError),
    #[error("rules: {0}")]
    Rules(String),
    /// A failure after the first charge to the accountant: noise had been drawn, so the
    /// budget spent so far is spent, although nothing was released.
    #[error("{cause}\nThe run failed after spending rho {spent:.6e} of its budget of rho {budget:.6e} on {steps} noisy measurement(s): that privacy loss counts against these data although nothing was released. Fix the problem before running again; a new run spends its budget afresh.")]
    BudgetSpent {
        cause: Box<MechanismError>,
        /// rho charged before the failure (the exact sum, rounded up).
        spent: f64,
        budget: f64,
        steps: usize,
    },
}

impl MechanismError {
    /// Marks a failure as one that happened after `acc` was first charged (unchanged if
    /// nothing was charged, or if it is already marked).
    pub fn after_charges(self, acc: &Accountant) -> Self {
        if acc.ledger().is_empty() || matches!(self, MechanismError::BudgetSpent { .. }) {
            return self;
        }
        MechanismError::BudgetSpent {
            cause: Box::new(self),
            spent: acc.spent(),
            budget: acc.budget().value(),
            steps: acc.ledger().len(),
        }
    }

    /// Whether privacy budget was spent before the failure.
    pub fn budget_spent(&self) -> bool {
        matches!(self, MechanismError::BudgetSpent { .. })
    }
}

/// The bootstrap's refit (`accuracy.json`): afresh on the fitted model's tree
/// (`model::refit`: uniform start plus IPF), at most 150 iterations.
///
/// Why 150: from the uniform start the stated errors first fall (the refit has not yet
/// learnt the measured dependencies: too much error), dip below the converged refit's
/// (it has not yet fitted the noise: too little) and then rise to it. At 150 iterations
/// they matched converged refits within the bootstrap's own Monte-Carlo noise on every
/// model measured up to session 14, at about half the cost of the former 400 (which sat in
/// the dip on the largest model). Not on NIST epsilon 3 (session 15, below): there 150
/// states 2- and 3-way errors 1-2% (2-3 Monte-Carlo sd) below the converged refits'. Mean 1/2/3-way estimate, 150 / 400 / converged (3,000 iterations, tol
/// 1e-9), and the standard deviation across seeds of the 400's (the Monte-Carlo noise of a
/// release's figure), seeds 7-12, `examples/bootstrap_cost.rs`:
/// - adult AIM epsilon 0.3: 0.0320 / 0.0780 / 0.1422; 0.0321 / 0.0782 / 0.1425; 0.0321 /
///   0.0784 / 0.1427; sd 0.0012 / 0.0022 / 0.0031 (150 is 0.2 sd low, as 400 is 0.1 sd);
/// - adult AIM epsilon 1: 0.0124 / 0.0386 / 0.0842; 0.0123 / 0.0383 / 0.0834; 0.0123 /
///   0.0383 / 0.0834; sd 0.0004 / 0.0010 / 0.0014 (150 is at most 0.6 sd high);
/// - adult MST epsilon 1: 0.0065 / 0.0277; 0.0065 / 0.0278; 0.0065 / 0.0278; sd 0.0002 /
///   0.0003;
/// - adult AIM epsilon 3 (2.6 M cells; 2,000 iterations as the reference), seed 7: 0.0052 /
///   0.0236 / 0.0625; 0.0052 / 0.0234 / 0.0618; 0.0052 / 0.0237 / 0.0626; seed 8: 0.0054 /
///   0.0242 / 0.0631; 0.0054 / 0.0238 / 0.0621; 0.0054 / 0.0239 / 0.0625 (sd across seeds 7-9
///   at 400: 0.0002 / 0.0003 / 0.0004); the error bars' CPU 23.5 s against 47.4 s;
/// - session 15, `bootstrap_cost MODEL 7,8,9 150:1e-6 3000:1e-9` on main's release files
///   (converged on 2-3 seeds: a converged NIST replicate pair is ~600 s CPU): adult AIM
///   epsilon 10, 150 / converged 0.0024 / 0.0155 / 0.0488; 0.0025 / 0.0154 / 0.0485 (sd
///   across seeds 0.0002 / 0.0001 / 0.0001: 150 is 3 sd high in 3-way); NIST AIM epsilon 3,
///   seed 7 0.0084 / 0.0390 / 0.0931; 0.0084 / 0.0395 / 0.0947, seed 8 0.0092 / 0.0396 /
///   0.0940; 0.0091 / 0.0399 / 0.0953 (sd of 150 across seeds 7-9 0.0004 / 0.0003 / 0.0005:
///   150 is low by 1.7% and 1.4% of the 3-way estimate). A start from the replicate's
///   combined measurements (branch `bars3`, not merged) did not reach the converged figures
///   in fewer iterations on the large models (docs/performance.md, session 15);
/// - NIST AIM epsilon 1, seeds 7-9: 0.0194 / 0.0625 / 0.1301; 0.0193 / 0.0627 / 0.1306;
///   0.0193 / 0.0628 / 0.1311; sd 0.0011 / 0.0011 / 0.0012 (150 is 0.9 sd low in 3-way,
///   400 0.4 sd).
///
/// Not the noise-tied stop (session 12, `EstimationOptions::move_tol` 0.03 as AIM's final
/// fit, `bootstrap_cost MODEL 7,8,9 150:1e-6:3:0.03`): it stopped the refits after 118-126
/// iterations and cut the error bars' CPU by about a fifth, but the one-way estimates, which
/// rise as the refit fits the noise, came out low: NIST epsilon 3 0.0091 against 0.0094 at
/// 150 iterations (0.0088 / 0.0094 against 0.0093 / 0.0099 on seeds 8 and 9; sd 0.0004),
/// while two- and three-way ones were 0.5-1.3% high; adult epsilon 10's one-way 0.0025-0.0026
/// against 0.0027 after 600 iterations (seed 7).
pub fn bootstrap_estimation() -> EstimationOptions {
    EstimationOptions {
        max_iters: 150,
        // docs/performance.md, session 21: the same estimates to four digits on NIST
        // epsilon 10's model, in 20-25 s against 31-36 s.
        single_precision: true,
        ..EstimationOptions::default()
    }
}

/// A fitted DP model and everything a release needs to describe how it was made.
/// All of it is DP output or public: it may be shared.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fitted {
    pub mechanism: String,
    pub budget: Budget,
    /// Whose privacy the run protects; every sensitivity in the ledger follows from it.
    /// (Model files written before units existed are record-level.)
    #[serde(default)]
    pub unit: PrivacyUnit,
    pub ledger: Vec<LedgerEntry>,
    /// Sum of the ledger's rho, as the accountant added it.
    pub spent: f64,
    pub compression: Compression,
    pub measurements: Vec<Measurement>,
    pub model: GraphicalModel,
    #[serde(skip)]
    pub estimation: EstimationReport,
    /// Wall time per phase, for the operator's terminal only (never written to a release).
    #[serde(skip)]
    pub phases: Vec<(String, Duration)>,
    /// The cliques error bars are reported for besides all one- and two-way ones: AIM's
    /// workload, MST's pairs (public).
    #[serde(default)]
    pub workload: Vec<Clique>,
    /// The selection steps' record of every scored candidate (model domain, counts, against
    /// the final model), from which the report computes its bounds at the levels it needs
    /// (proofs/accuracy.md, "One level for several bounds"). Model files written before
    /// session 12 hold finished bounds without their inputs: the report skips them.
    #[serde(default)]
    pub selection: Vec<SelectionBound>,
    /// The rounds [`SelectionBound::round`] indexes (empty in older model files).
    #[serde(default)]
    pub selection_rounds: Vec<SelectionRound>,
    /// Records drawn from the final model for the sampled selection answers (0: none).
    #[serde(default)]
    pub selection_records: usize,
    /// Indices of measurements taken over the original domain and summed over merged values
    /// (the one-ways before compression): a merged cell carries `k` cells' noise.
    #[serde(default)]
    pub summed: Vec<usize>,
    /// Error bars (`accuracy.json`), once [`Fitted::assess`] has run.
    #[serde(default)]
    pub accuracy: Option<AccuracyReport>,
}

impl Fitted {
    /// Per measurement, each cell's noise standard deviation. The one-ways are measured
    /// before compressing and a merged group's cells summed, so such a cell carries `k`
    /// cells' noise.
    pub fn cell_sd(&self) -> Vec<Vec<f64>> {
        self.measurements
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if m.clique.len() == 1 && self.summed.contains(&i) {
                    let a = m.clique.attrs()[0];
                    let groups = &self.compression.groups[a];
                    if groups.len() == m.values.len() {
                        return groups
                            .iter()
                            .map(|g| m.sigma * (g.len() as f64).sqrt())
                            .collect();
                    }
                }
                vec![m.sigma; m.values.len()]
            })
            .collect()
    }

    /// The domain of the released records (the model's, with merged values spread back).
    pub fn released_domain(&self) -> Domain {
        self.domain_map(&self.cell_sd()).released().clone()
    }

    fn domain_map<'a>(&'a self, cell_sd: &'a [Vec<f64>]) -> CompressionMap<'a> {
        let d = self.model.domain().len();
        let mut one_ways: Vec<Option<(&[f64], &[f64])>> = vec![None; d];
        for (m, sd) in self.measurements.iter().zip(cell_sd) {
            if m.clique.len() == 1 {
                let a = m.clique.attrs()[0];
                if one_ways[a].is_none() {
                    one_ways[a] = Some((&m.values, sd));
                }
            }
        }
        CompressionMap::new(&self.compression, self.model.domain(), &one_ways)
    }

    fn report_inputs<'a>(
        &'a self,
        cell_sd: &'a [Vec<f64>],
        map: &'a CompressionMap<'a>,
        seed: u64,
        replicates: usize,
    ) -> ReportInputs<'a> {
        self.report_inputs_with(cell_sd, map, seed, replicates, bootstrap_estimation())
    }

    fn report_inputs_with<'a>(
        &'a self,
        cell_sd: &'a [Vec<f64>],
        map: &'a CompressionMap<'a>,
        seed: u64,
        replicates: usize,
        estimation: EstimationOptions,
    ) -> ReportInputs<'a> {
        // The bootstrap's refits keep the structural zeros the model holds (`model::refit`;
        // proofs/rules.md).
        ReportInputs {
            measurements: &self.measurements,
            cell_sd,
            map,
            selection: SelectionEvidence {
                bounds: &self.selection,
                rounds: &self.selection_rounds,
                records: self.selection_records,
            },
            cliques: &self.workload,
            // The schema's sizes (public): the original codes the groups stand for.
            public_sizes: self.compression.original_sizes(),
            confidence: evidence::CONFIDENCE,
            bootstrap: BootstrapOptions {
                replicates,
                seed,
                estimation,
                answer_sample: crate::model::accuracy::ANSWER_SAMPLE_FACTOR,
            },
        }
    }

    /// Runs `f` on the inputs [`Fitted::assess`] builds its report from (bootstrap seed 0,
    /// one replicate): for measuring the bounds' rules (`examples/bound_levels.rs`).
    pub fn with_report_inputs<R>(&self, f: impl FnOnce(&ReportInputs) -> R) -> R {
        let cell_sd = self.cell_sd();
        let map = self.domain_map(&cell_sd);
        f(&self.report_inputs(&cell_sd, &map, 0, 1))
    }

    /// Computes the error bars (`accuracy.json`) from the DP outputs in `self` only:
    /// post-processing (proofs/accuracy.md). `seed` drives the bootstrap's simulation.
    pub fn assess(&mut self, seed: u64, replicates: usize) -> Result<(), MechanismError> {
        self.assess_with(
            seed,
            replicates,
            bootstrap_estimation(),
            crate::model::accuracy::ANSWER_SAMPLE_FACTOR,
        )
    }

    /// As [`Fitted::assess`], with the bootstrap's refit options and its records drawn per
    /// simulated record for costly answers (`BootstrapOptions::answer_sample`; 0: all
    /// exact) given, for measuring their cost and effect (`examples/bootstrap_cost.rs`).
    /// Releases use [`Fitted::assess`].
    pub fn assess_with(
        &mut self,
        seed: u64,
        replicates: usize,
        estimation: EstimationOptions,
        answer_sample: usize,
    ) -> Result<(), MechanismError> {
        let t = std::time::Instant::now();
        let cell_sd = self.cell_sd();
        let map = self.domain_map(&cell_sd);
        let mut inputs = self.report_inputs_with(&cell_sd, &map, seed, replicates, estimation);
        inputs.bootstrap.answer_sample = answer_sample;
        let report = AccuracyReport::build(&self.model, &inputs)?;
        self.accuracy = Some(report);
        self.phases.push(("error bars".to_string(), t.elapsed()));
        Ok(())
    }

    /// Error bars for any clique (released domain), consistent with `accuracy.json`; `None`
    /// when the model has no error bars (assessed by an older version).
    pub fn accuracy_of(&self, clique: &Clique) -> Result<Option<CliqueAccuracy>, MechanismError> {
        let Some(report) = &self.accuracy else {
            return Ok(None);
        };
        let cell_sd = self.cell_sd();
        let map = self.domain_map(&cell_sd);
        let inputs = self.report_inputs(
            &cell_sd,
            &map,
            report.bootstrap_seed,
            report.bootstrap_replicates,
        );
        Ok(Some(report.for_clique(&self.model, &inputs, clique)?))
    }

    /// The combined noisy measurement of `clique` with per-cell noise, when measurements
    /// support it and no merged values touch it (so it is over the released domain).
    pub fn supported(&self, clique: &Clique) -> Option<Supported> {
        let cell_sd = self.cell_sd();
        let map = self.domain_map(&cell_sd);
        if map.expansion_bound(clique, 0.5) > 0.0
            || clique
                .attrs()
                .iter()
                .any(|&a| map.released().size(a) != self.model.domain().size(a))
        {
            return None;
        }
        combine_supported(self.model.domain(), clique, &self.measurements, &cell_sd)
    }

    /// The model's answer for `clique` over the released domain (merged values spread back).
    pub fn answer(&self, clique: &Clique) -> Result<MarginalTable, MechanismError> {
        let cell_sd = self.cell_sd();
        let map = self.domain_map(&cell_sd);
        let t = self.model.try_project(clique)?;
        Ok(map.expand_table(&t))
    }

    /// Number of rows to synthesise when the user gives none: the model's total, which is
    /// estimated from noisy measurements only (proofs/row-count.md). Never the true count.
    pub fn default_rows(&self) -> usize {
        let t = self.model.total();
        if t.is_finite() && t >= 1.0 {
            t.round() as usize
        } else {
            1
        }
    }

    /// Samples `rows` records in original codes (column-major; automatic-bin columns in
    /// their merged bins). Post-processing: uses only the model, the compression map and the
    /// seed. Releases use [`Fitted::synthesize_for`], which also keeps rare-value decoding
    /// inside the schema's rules. Drawn chunk by chunk as a release is, so the records are
    /// the same.
    pub fn synthesize(&self, rows: usize, seed: u64, method: SamplingMethod) -> Vec<Vec<u32>> {
        let sampler = Sampler::new(&self.model, rows, seed, method);
        let mut columns: Vec<Vec<u32>> = vec![Vec::with_capacity(rows); self.model.domain().len()];
        for i in 0..sampler.n_chunks() {
            let mut chunk = sampler.chunk(i);
            self.compression
                .decompress(&mut chunk, &mut decompression_rng_for(seed, i));
            for (col, part) in columns.iter_mut().zip(chunk) {
                col.extend_from_slice(&part);
            }
        }
        columns
    }

    /// Samples `rows` records for `schema` (the one the model was fitted with): returns the
    /// schema the codes decode in (automatic bins merged, [`effective_schema`]) and the codes,
    /// every record in a cell the rules allow. Post-processing of the model. The same
    /// records as [`Fitted::synthesize_chunks`], held whole.
    pub fn synthesize_for(
        &self,
        schema: &crate::schema::Schema,
        rows: usize,
        seed: u64,
        method: SamplingMethod,
    ) -> Result<(crate::schema::Schema, Vec<Vec<u32>>), MechanismError> {
        let mut columns: Vec<Vec<u32>> = vec![Vec::with_capacity(rows); self.model.domain().len()];
        let eff = self.synthesize_chunks(schema, rows, seed, method, |_, _, chunk| {
            for (col, part) in columns.iter_mut().zip(chunk) {
                col.extend_from_slice(part);
            }
            Ok::<(), MechanismError>(())
        })?;
        Ok((eff, columns))
    }

    /// [`Fitted::synthesize_for`] chunk by chunk ([`crate::model::SAMPLE_CHUNK`] records
    /// each): `sink(eff, start, codes)` gets each chunk's codes (in the effective schema
    /// `eff`, first record `start`) in order, while the next chunks are drawn on other
    /// threads (one per core, each a chunk ahead); a few chunks are held at once, however
    /// many records are drawn.
    /// Returns the effective schema. Stops at the first error of the sink or the sampler.
    pub fn synthesize_chunks<E: From<MechanismError> + Send>(
        &self,
        schema: &crate::schema::Schema,
        rows: usize,
        seed: u64,
        method: SamplingMethod,
        mut sink: impl FnMut(&crate::schema::Schema, usize, &[Vec<u32>]) -> Result<(), E>,
    ) -> Result<crate::schema::Schema, E> {
        let eff = effective_schema(schema, &self.compression)?;
        let zeros = crate::model::StructuralZeros::from_schema(&eff)
            .map_err(|e| MechanismError::Rules(e.to_string()))?;
        let decoded =
            crate::marginal::Domain::new(eff.modelled_names(), eff.modelled_cardinalities());
        let sampler = Sampler::new(&self.model, rows, seed, method);
        // Chunks the sink is done with, whose columns the next draws reuse
        // (`Sampler::chunk_into`).
        let done: std::sync::Mutex<Vec<Vec<Vec<u32>>>> = std::sync::Mutex::new(Vec::new());
        let draw = |i: usize| -> Result<Vec<Vec<u32>>, MechanismError> {
            let mut chunk = done
                .lock()
                .ok()
                .and_then(|mut d| d.pop())
                .unwrap_or_default();
            sampler.chunk_into(i, &mut chunk);
            self.compression
                .decompress_within(
                    &mut chunk,
                    &zeros,
                    &decoded,
                    &mut decompression_rng_for(seed, i),
                )
                .map_err(|e| {
                    MechanismError::Rules(format!(
                        "{e} (in the chunk of records from {})",
                        sampler.chunk_start(i) + 1
                    ))
                })?;
            Ok(chunk)
        };
        let n = sampler.n_chunks();
        if n <= 1 {
            // One chunk: no second thread.
            for i in 0..n {
                sink(&eff, 0, &draw(i)?)?;
            }
            return Ok(eff);
        }
        std::thread::scope(|scope| {
            // One drawing thread per core, thread `w` drawing chunks `w`, `w + W`, ... (each
            // chunk's records depend only on its index), each with one finished chunk in its
            // channel; the sink takes them in order. No thread waits for another's chunk: a
            // batch of one chunk per core, drawn together, waited for its slowest chunk
            // while the sink wrote the batch before.
            let workers = rayon::current_num_threads().clamp(1, n);
            let draw = &draw;
            let rxs: Vec<_> = (0..workers)
                .map(|w| {
                    let (tx, rx) = std::sync::mpsc::sync_channel(1);
                    scope.spawn(move || {
                        for i in (w..n).step_by(workers) {
                            let chunk = draw(i);
                            let stop = chunk.is_err();
                            if tx.send(chunk).is_err() || stop {
                                return;
                            }
                        }
                    });
                    rx
                })
                .collect();
            for i in 0..n {
                // A closed channel before the last chunk: a sampler thread panicked.
                let chunk = rxs[i % workers].recv().map_err(|_| {
                    MechanismError::Rules("internal error: the sampler stopped".into())
                })??;
                sink(&eff, sampler.chunk_start(i), &chunk)?;
                // At most one spare chunk per drawing thread.
                if let Ok(mut d) = done.lock() {
                    if d.len() < workers {
                        d.push(chunk);
                    }
                }
            }
            Ok(eff.clone())
        })
    }

    /// Per attribute, the model's mass of each code records decode in (automatic bins
    /// merged; a rare-value group's mass spread as decompression spreads it): what
    /// within-bin densities are built from. Post-processing of the model.
    pub fn decoded_masses(&self) -> Vec<Vec<f64>> {
        let merged = self.compression.merged_bins();
        (0..self.model.domain().len())
            .map(|a| {
                let p = self
                    .model
                    .project(&crate::marginal::Clique::new([a]))
                    .values;
                if merged[a] {
                    return p;
                }
                let groups = &self.compression.groups[a];
                let n: usize = groups.iter().map(Vec::len).sum();
                let mut out = vec![0.0; n];
                for (k, g) in groups.iter().enumerate() {
                    let w = self.compression.spread(a, k);
                    let tw: f64 = w.iter().sum();
                    for (&o, &wi) in g.iter().zip(&w) {
                        out[o as usize] = if tw > 0.0 {
                            p[k] * wi / tw
                        } else {
                            p[k] / g.len() as f64
                        };
                    }
                }
                out
            })
            .collect()
    }
}

/// The stream decompression draws from: its own ChaCha stream, independent of the
/// sampler's (stream 0) and of the decoder's (`data::decode_rng`).
fn decompression_rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed ^ 0x6465_636f_6d70_7265)
}

/// The decompression stream of sampling chunk `i` (chunk 0: [`decompression_rng`], as
/// before chunking).
fn decompression_rng_for(seed: u64, chunk: usize) -> ChaCha20Rng {
    let mut rng = decompression_rng(seed);
    rng.set_stream(chunk as u64);
    rng
}

/// Progress reporting, so the library stays free of terminal concerns. Messages are phase
/// names and step counts only: never data-derived values.
pub trait Progress {
    fn start(&self, _phase: &str, _steps: usize) {}
    fn inc(&self) {}
    /// A status line (phase-level figures that are DP outputs or public, never raw data).
    fn message(&self, _msg: &str) {}
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Which mechanism to run, with its options.
#[derive(Clone, Debug)]
pub enum MechanismSpec {
    Mst(MstOptions),
    Aim(AimOptions, Workload),
}

impl MechanismSpec {
    pub fn name(&self) -> &'static str {
        match self {
            MechanismSpec::Mst(_) => "mst",
            MechanismSpec::Aim(..) => "aim",
        }
    }

    /// The privacy unit the mechanism will honour.
    pub fn unit(&self) -> &PrivacyUnit {
        match self {
            MechanismSpec::Mst(o) => &o.unit,
            MechanismSpec::Aim(o, _) => &o.unit,
        }
    }

    /// Sets the privacy unit (the caller truncates the data to match: `data::truncate_units`).
    pub fn set_unit(&mut self, unit: PrivacyUnit) {
        match self {
            MechanismSpec::Mst(o) => o.unit = unit,
            MechanismSpec::Aim(o, _) => o.unit = unit,
        }
    }

    /// Tells the mechanism the schema's automatic bins and rules (public).
    pub fn set_knowledge(&mut self, knowledge: SchemaKnowledge) {
        match self {
            MechanismSpec::Mst(o) => o.knowledge = knowledge,
            MechanismSpec::Aim(o, _) => o.knowledge = knowledge,
        }
    }

    /// Public options for the certificate.
    pub fn options_json(&self, domain: &crate::marginal::Domain) -> serde_json::Value {
        match self {
            MechanismSpec::Mst(o) => serde_json::json!({
                "compress": o.compress,
                "compress_threshold_sigmas": o.compress_sigmas,
                "estimation_max_iters": o.estimation.max_iters,
            }),
            MechanismSpec::Aim(o, w) => serde_json::json!({
                "rounds_planned": o.rounds.unwrap_or(16 * domain.len()).max(domain.len() + 1),
                "compress": o.compress,
                "compress_threshold_sigmas": o.compress_sigmas,
                // The ramp of `aim::compression_threshold` (a public rule).
                "compress_threshold_rule": "only after a second one-way pass; threshold = compress_threshold_sigmas * combined one-way sigma * clamp(r / one_way_relative_noise_target - 1, 0, 1), r the first pass's expected relative L1 noise",
                "one_way_relative_noise_target": o.one_way_target,
                "one_way_share_when_above": o.one_way_share,
                "max_model_size_mb": o.max_model_size_mb,
                "max_fit_work_calibrated_cells": o.fit_work,
                "selections_per_refit": o.round_batch.max(1),
                "estimation_precision": if o.estimation.single_precision { "single" } else { "double" },
                "noise_free_max_model_size_mb": o.noise_free_max_model_size_mb,
                "noise_free_relative_noise": o.noise_free_relative,
                "selection_share": o.selection_share,
                "workload": w.cliques.iter().map(|(c, wt)| serde_json::json!({
                    "columns": c.attrs().iter().map(|&a| domain.name(a)).collect::<Vec<_>>(),
                    "weight": wt,
                })).collect::<Vec<_>>(),
            }),
        }
    }
}

/// Runs the chosen mechanism.
pub fn fit<O: crate::marginal::MarginalOracle>(
    oracle: &O,
    budget: Budget,
    spec: &MechanismSpec,
    progress: &dyn Progress,
) -> Result<Fitted, MechanismError> {
    match spec {
        MechanismSpec::Mst(o) => mst(oracle, budget, o, progress),
        MechanismSpec::Aim(o, w) => aim(oracle, budget, w, o, progress),
    }
}
