//! AIM (McKenna, Mullins, Sheldon, Miklau 2022): adaptive, workload-aware selection.
//!
//! Each round selects the candidate marginal the current model answers worst (exponential
//! mechanism, quality penalised by the noise a measurement would add), measures it with
//! the Gaussian mechanism, and refits the model from a warm start. When a measurement
//! barely moves the model the noise is halved (annealing); the last round spends exactly
//! what is left. Privacy: proofs/aim.md covers `aim`, `select_worst` and `Workload`.

use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::marginal::{Clique, Domain, MarginalOracle, MarginalTable};
use crate::model::{
    estimate, fit_cliques, model_size_cells, EstimationOptions, Estimator, GraphicalModel,
    Measurement,
};
use crate::privacy::{
    gaussian_scale_for, noisy_max_scale_for, select_noisy_max, Accountant, Budget, PrivacyUnit, Rho,
};

use super::candidates::{fitting_candidates, open_candidates, SizeMemo};
use super::compress::{CompressedOracle, Compression};
use super::evidence::{Scored, SelectionTracker};
use super::knowledge::SchemaKnowledge;
use super::measure::{measure_marginal, measure_marginal_with_sigma, share, spendable_rho};
use super::score::{l1_distance, weighted_score, weighted_score_sensitivity};
use super::{Fitted, MechanismError, Progress};

/// Largest candidate set of AIM's default 3-way workload ([`Workload::default_for`]); also
/// the default of `AimOptions::grow_above`. adult (575 candidates) and NIST national2019
/// (2,047) stay below it; 29 columns give 4,089, 30 give 4,525.
pub const WIDE_CANDIDATES: usize = 4096;

/// A weighted list of cliques the user cares about (public: chosen without the data).
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub cliques: Vec<(Clique, f64)>,
}

impl Workload {
    /// All k-way marginals with weight 1 (AIM's default is k = 3).
    pub fn all_k_way(d: usize, k: usize) -> Self {
        let k = k.min(d);
        Workload {
            cliques: crate::marginal::all_k_way(d, k)
                .into_iter()
                .map(|c| (c, 1.0))
                .collect(),
        }
    }

    /// The AIM paper's TARGET workload (its experiments): every k-way marginal that contains at
    /// least one of the `targets` (an outcome a downstream model will predict), weight 1.
    /// Candidates are still every subset, so pairs without a target stay selectable, but
    /// with one target and k = 3 a pair `{t, x}` gets weight `C(d-1, 2) + d - 2` against
    /// `2 (d - 2)` for `{x, y}` (104 against 26 on adult's 15 columns), so the outcome's
    /// relations are selected and measured first. Falls back to all k-way
    /// marginals when no target is given. Public: targets are named by the user.
    pub fn targeting(d: usize, k: usize, targets: &[usize]) -> Self {
        let mut w = Workload::all_k_way(d, k);
        if !targets.is_empty() {
            w.cliques
                .retain(|(c, _)| c.attrs().iter().any(|a| targets.contains(a)));
        }
        w
    }

    /// The default workload: with `targets`, every 3-way marginal containing a target
    /// ([`Workload::targeting`]); otherwise every 3-way marginal, unless its candidates (the
    /// downward closure) outnumber [`WIDE_CANDIDATES`] (30 columns or more), and then every
    /// 2-way marginal. At 60 columns the 34,220 triples would make each round score and
    /// size-check 36,050 candidates, and the triangulation fill-in of many measured
    /// triples makes the refits slow; all pairs of the wide clinical table gave half of
    /// MST's 3-way error (README). A function of the public domain and targets only.
    pub fn default_for(d: usize, targets: &[usize]) -> Self {
        let three = Workload::targeting(d, 3, targets);
        if !targets.is_empty() || three.closure_len() <= WIDE_CANDIDATES {
            three
        } else {
            Workload::all_k_way(d, 2)
        }
    }

    /// The number of AIM candidates (distinct non-empty subsets of the workload's cliques),
    /// without their weights.
    pub fn closure_len(&self) -> usize {
        let mut seen = std::collections::BTreeSet::new();
        for (w, _) in &self.cliques {
            for k in 1..=w.len() {
                seen.extend(w.subsets_of_size(k));
            }
        }
        seen.len()
    }

    /// AIM's candidates: every non-empty subset of a workload clique, weighted by
    /// `sum_w weight_w * |C intersect w|` (the paper's score, section 4). Sorted for
    /// determinism.
    pub fn candidates(&self) -> BTreeMap<Clique, f64> {
        let mut out = BTreeMap::new();
        for (w, _) in &self.cliques {
            for k in 1..=w.len() {
                for c in w.subsets_of_size(k) {
                    out.entry(c).or_insert(0.0);
                }
            }
        }
        for (c, wgt) in out.iter_mut() {
            *wgt = self
                .cliques
                .iter()
                .map(|(w, ww)| ww * c.intersection(w).len() as f64)
                .sum();
        }
        out
    }
}

/// Tunables of AIM. Defaults follow the paper and private-pgm's reference code.
#[derive(Clone, Debug)]
pub struct AimOptions {
    /// Rounds the budget is planned for; the paper uses 16 * d. Raised to at least d + 1
    /// (the one-way initialisation takes d rounds' measurement budget).
    pub rounds: Option<usize>,
    /// Model size cap in MB of f64 cells (the paper's 80 MB): the one number for the
    /// candidate filter and every fit (it replaces `estimation.max_cells`).
    pub max_model_size_mb: f64,
    /// Fraction of each round's budget spent on selection (the paper's 0.1).
    pub selection_share: f64,
    /// The final fit. Its iteration cap is 500, not the engine's 2000: measured on adult
    /// (2026-11-23), stopping there leaves the 3-way error unchanged (eps 3: 0.0923 over 2
    /// runs vs 0.0923 over 5 with the fit run to convergence at ~1,900 iterations; eps 1:
    /// 0.1260 vs 0.1274) and cuts the final fit at eps 3 from ~300 s to ~30 s.
    /// It also stops by the noise-tied test (`EstimationOptions::move_tol` 0.03: the measured
    /// marginals moved by at most 3% of their noise's expected L1 over the last window). The
    /// final fit starts from the last round's refit, which already saw every measurement, so
    /// it stops after one window (10 iterations) where the cap ran 500 that mostly fitted
    /// noise (an adult epsilon 3 release replayed, `examples/refit_replay.rs`: its model's
    /// 3-way L1 0.0844 after 500, 0.0794 after 71 with the stop). End to end, 5 runs each
    /// (`DPSYNTH_FINAL_MOVE_TOL=0.03 cargo run --release --example compare -- adult 0.3,1,3 5
    /// aim`, and NIST at 0.3,1; 2026-12-01), mean 3-way L1 against the README table's:
    /// adult 0.1926 / 0.1242 / 0.0893 vs 0.1950 / 0.1274 / 0.0923; NIST 0.2918 / 0.1915 vs
    /// 0.3172 / 0.1952. The stop reads only the noisy measurements: post-processing.
    pub estimation: EstimationOptions,
    /// Iterations for each warm-started refit inside rounds (private-pgm runs 1,000). No
    /// refit converges by `round_tol` at high budgets, so this sets the refits' cost. 50 was
    /// tried (2026-12-01, loaded machine, `examples/compare` with `DPSYNTH_ROUND_ITERS=50`):
    /// adult epsilon 3, 3-way L1 0.0916 over 5 runs against 0.0889 over 4 runs at 100 (31% less
    /// CPU); epsilon 1 0.1249 against 0.1232 and 0.1251 (two 5-run arms). Not adopted: the
    /// epsilon 3 gap is about two standard errors, although the replay
    /// (`examples/refit_replay.rs`) fits the same final model (3-way 0.0818 vs 0.0819).
    pub round_iters: usize,
    /// Convergence tolerance of those refits (see `EstimationOptions::tol`). A round's model
    /// only has to rank the candidates, so it stops once progress is small against the
    /// noise; the final fit uses `estimation.tol`.
    pub round_tol: f64,
    /// Refits start with one IPF sweep over the round's new measurement
    /// (`EstimationOptions::warm_ipf`). Off: end to end it showed no gain (adult epsilon 1,
    /// 50 iterations, 5 runs: 0.1252 with it, 0.1249 without).
    /// Replayed on an adult epsilon 3 release's 51 refits (`examples/refit_replay.rs`, 2026-12-01):
    /// summed refit loss at 100 / 50 iterations 145,738 / 157,184 without it and 144,231 /
    /// 150,685 with it (it halves what 50 iterations lose); the final model's 3-way L1 is
    /// 0.0818-0.0820 in all four, and 50 iterations take 45% less refit CPU (60 vs 110 s).
    pub round_ipf: bool,
    /// The refits' noise-tied stop (`EstimationOptions::move_tol`): a refit ends once its
    /// measured marginals moved by at most this fraction of their noise over the last
    /// window of steps. `None`: off (every refit runs `round_iters`). Not adopted (2026-12-01):
    /// 0.1 with the final fit's `move_tol` 0.03, replayed on an adult epsilon 3 release's 46
    /// refits (`examples/refit_replay.rs`, CPU), cut the refits from 71.0 to 12.9 s and the
    /// final fit from 69.6 to 10.9 s (500 to 71 iterations; final model's 3-way L1 0.0844 to
    /// 0.0794), but end to end the looser refits move the model less, annealing fires sooner
    /// and NIST epsilon 3 ran 34-36 rounds (76 before): 55-120 s CPU, synthetic 3-way L1
    /// 0.1375, 0.1460, 0.1433, 0.1424 (mean 0.1423, 4 runs) against the table's 0.1365.
    pub round_move_tol: Option<f64>,
    /// Refits in two stages (`None`: every refit runs `round_iters`): a round's refit
    /// first runs this many iterations, and goes on to `round_iters` in all only when the
    /// annealing test would fire on that model (the new clique moved by at most its noise's
    /// expected L1). A round whose measurement already moved the model by more than that keeps
    /// the shorter refit: more iterations rarely undo such a move (they mostly move the
    /// clique further towards its measurement), so the annealing decisions stay those of
    /// `round_iters`-iteration refits, which cutting `round_iters` itself did not keep
    /// (fewer iterations move the model less and anneal sooner; see `round_iters`). The test
    /// reads only model marginals: post-processing (proofs/aim.md, "annealing").
    /// Default 50 (2026-12-02): replayed on an adult epsilon 10 release's 49 rounds
    /// (`examples/round_replay.rs`), 50-then-100 kept all 47 annealing decisions of
    /// 100-iteration refits (plain 50: 3 differ, 30 with IPF: 9) with 2,750 instead of 4,900
    /// iterations (refits 75.5 vs 113.7 s CPU). End to end (`DPSYNTH_NO_BARS=1 compare --
    /// adult E N aim`, loaded machine, CPU per run without error bars): epsilon 3, 5 runs each,
    /// 3-way L1 0.0888 +- 0.0005 against 0.0888 +- 0.0004 off, 40.9 against 61.8 s CPU;
    /// epsilon 10, 3 runs each, 0.0668 +- 0.0002 against 0.0676 +- 0.0007, 101.5 against
    /// 131.6 s CPU. NIST not measured (its epsilon 3 has the least room in the README table).
    pub round_iters_min: Option<usize>,
    /// Each refit (and the final fit) starts its line search from the previous fit's last
    /// step (`EstimationReport::step`) times this factor (`None`: from the default first
    /// step, which moves no log-potential by more than one unit). That default was 50 to 400
    /// times too long on NIST epsilon 3, so every refit first spent about 5 of its ~13
    /// rejected trial steps (calibrations) shortening it; the previous refit's step is
    /// within a small factor, and the factor 4 leaves room for a longer one (the line search
    /// shortens a step in one calibration per halving, but lengthens it only by 1.1 per
    /// accepted step). Replayed refits of 50 iterations (`examples/refit_replay.rs`, CPU,
    /// 2026-12-02), calibrations and summed refit loss against the default start: adult
    /// epsilon 10's 47 refits, factor 4: 2,865 vs 3,103 (-7.7%), loss 265,401 vs 263,823
    /// (+0.6%), where cutting the default to 45 iterations saves as much (2,821) at
    /// 280,455 (+6.3%); factor 1: 2,772, 266,855; factor 16: 2,959, 264,289. NIST epsilon
    /// 3's 58 refits, factor 2: 3,478 vs 3,714 (-6.4%), loss 230,917 vs 230,747 (+0.07%);
    /// factor 1: 3,420, 230,999. Same 45 annealing decisions as without it on adult
    /// epsilon 10's rounds (`round_replay 50-100 50-100:c4`: 3,109 vs 3,376 calibrations,
    /// selection distributions' TV mean 0.025, max 0.28). End to end (`DPSYNTH_NO_BARS=1
    /// compare -- adult E 3 aim`, loaded machine, CPU per run): epsilon 10 3-way L1 0.0668
    /// (0.0664 0.0660 0.0679; 49, 49, 45 rounds; 51.9-56.0 s) against 0.0663 with
    /// `DPSYNTH_CARRY_STEP=0` (0.0663 0.0668 0.0658; 51, 53, 53 rounds; 63.6-71.2 s);
    /// epsilon 3 0.0889 (0.0896 0.0872 0.0899; 22.7-33.0 s). The step is a function of
    /// earlier fits to the noisy measurements: post-processing.
    /// Off by default (lead, session 13, idle machine, `DPSYNTH_NO_BARS=1 compare -- SET 3 N
    /// aim` with and without `DPSYNTH_CARRY_STEP=0`): NIST epsilon 3, 3 runs each, 3-way L1
    /// 0.1347 (0.1364 0.1352 0.1324; 67-72 rounds; 45.3-57.3 s) against 0.1317 off (0.1305
    /// 0.1328 0.1317; 63-76 rounds; 45.3-65.0 s); adult epsilon 3, 5 runs each, 0.0894
    /// (0.0904 0.0885 0.0893 0.0895 0.0894) against 0.0885 off (0.0877 0.0890 0.0891 0.0892
    /// 0.0878). Both lean the same way, by about two standard errors, and put the mean at
    /// the README table's bar (NIST 0.1365, adult 0.0893), for about a tenth of the rounds'
    /// time: not worth it.
    pub round_carry_step: Option<f64>,
    /// Whose privacy is protected: every sensitivity is read from it. The data behind the
    /// oracle must already be truncated to `unit.max_rows()` rows per unit
    /// (`data::truncate_units`; proofs/privacy-unit.md).
    pub unit: PrivacyUnit,
    /// Automatic bins and rules from the schema (public; `knowledge.rs`).
    pub knowledge: SchemaKnowledge,
    /// When the one-ways needed a second pass (see `one_way_target`), merge values whose
    /// combined noisy count is below `compress_sigmas` times its noise scale (MST's domain
    /// compression), ramped in from the second pass's trigger (`compression_threshold`).
    /// Large tables keep their full domain.
    pub compress: bool,
    pub compress_sigmas: f64,
    /// Small tables: when the initial one-ways' expected relative L1 noise
    /// (`sqrt(2/pi) sigma n_a / N_hat`, averaged over columns, from the noisy one-ways) is
    /// above `one_way_target`, the one-ways are measured again with the budget that brings
    /// the combination to the target, but so that the one-ways hold at most `one_way_share`
    /// of the budget in all. Measured (issue #15, README "Small tables", epsilon 1, 10
    /// runs): without it and compression AIM lost to MST on adult subsamples of 200 and
    /// 1,000 rows and on titanic (mean 3-way L1 1.646 / 0.852 / 0.646 vs MST 1.382 / 0.760
    /// / 0.575); with both it is below MST at every size (1.326 / 0.712 / 0.571; 5,000 rows
    /// 0.333 vs 0.372).
    pub one_way_target: f64,
    pub one_way_share: f64,
    /// Model size cap in MB for a budget in the noise-free regime: when the initial
    /// one-ways' expected relative L1 noise (as for `one_way_target`, from DP outputs) is
    /// below `noise_free_relative`, the cap becomes `min(max_model_size_mb, this)`. There
    /// every measurement is near exact, so annealing never slows the rounds, each round adds
    /// a clique until the model fills the cap, and fits on near-exact data converge slowly:
    /// adult at epsilon 1e5 took 28 min with 30 rounds at 80 MB (issue #13, item 9); with 4
    /// MB it takes minutes with every default (proofs/aim.md, "Noise-free regime").
    pub noise_free_max_model_size_mb: f64,
    pub noise_free_relative: f64,
    /// Wide tables: when the workload has more than this many candidates, a k-way candidate
    /// (k >= 3) is selectable only once one of its (k-1)-way faces lies inside a measured
    /// clique (`candidates::open_candidates`). Every 3-way marginal of 60 columns gives
    /// 36,050 candidates, each scored and size-checked every round; adult (575) and NIST
    /// national2019 (2,047) stay below the default and keep every candidate open. The
    /// selection's sensitivity is still that of the whole candidate set (proofs/aim.md).
    pub grow_above: usize,
    /// Compute budget of the rounds' refits, in calibrated cells (the model's cells times
    /// the belief propagations a refit runs, summed over rounds; `None`: unbounded). After
    /// each round, the rounds still affordable (the budget left over the current model's
    /// cells times the refits' mean calibrations so far) are compared with the rounds the
    /// remaining privacy budget lasts at the current rate; when the latter is more than
    /// twice the former, the round anneals (the next round's budget is four times this
    /// one's: the rate moves to the nearest power of four), as when its measurement hardly
    /// moved the model. So the rounds spend the privacy budget faster as
    /// the compute budget runs out, and `verify`'s ledger rule (each round the previous
    /// one's rho or four times it) is unchanged. Model sizes and calibration counts are
    /// functions of earlier noisy measurements: post-processing (proofs/aim.md, step 3).
    /// Off by default: it trades accuracy for time. At 5e9 (`DPSYNTH_NO_BARS=1
    /// DPSYNTH_FIT_WORK=5e9 compare -- SET E N aim`, 2026-12-03) mean 3-way L1 adult
    /// epsilon 10 0.0674 (5 runs; README table 0.0667), NIST epsilon 3 0.1375 (5 runs;
    /// 0.1365), NIST epsilon 10 0.1102 (3 runs; 0.1098), with the rounds at 42-68 s CPU
    /// instead of 60-100; idle `synth` runs of NIST and adult at epsilon 10 then took 57
    /// and 55 s (docs/performance.md, session 16).
    pub fit_work: Option<f64>,
    /// Selections per refit (1: the paper's AIM, one refit per round). A batch of `k` runs
    /// up to `k` ordinary rounds (each its own selection and measurement at the same rho,
    /// charged as before) on the model of the batch's start, every pick sharing no
    /// attribute with the batch's earlier picks and all of them within the size limit
    /// together; then one refit for the batch, and the annealing test on each pick (the
    /// batch anneals if any pick moved the model by at most its noise). Picks that share no
    /// attribute change each other's scores least, so a stale model ranks them nearly as
    /// a refitted one would; without that rule two picks in a batch at NIST epsilon 10
    /// gave 3-way L1 0.1127 (2 runs) against 0.1085 with it (3 runs). The model a
    /// selection reads is a function of earlier outputs either way: post-processing
    /// (proofs/aim.md, "Batches").
    /// Default 3 (2026-12-03; `DPSYNTH_NO_BARS=1 DPSYNTH_ROUND_BATCH=K compare -- SET E N
    /// aim`, idle, one run at a time): at NIST epsilon 10 `k` = 1 took 124 s with 3-way
    /// L1 0.1056, `k` = 2 70-83 s (0.1096, 0.1080, 0.1078), `k` = 3 53 s (0.1076), `k` =
    /// 4 31-36 s (0.1135, 0.1123; the README table's 0.1098), `k` = 6 28 s (0.1144); at
    /// `k` = 3 adult epsilon 10 23-33 s (0.0674, 0.0659, 0.0663; table 0.0667) and NIST
    /// epsilon 3 31-46 s (0.1277, 0.1339, 0.1346; table 0.1365). docs/performance.md,
    /// session 20, has the 5-run figures of every cell.
    pub round_batch: usize,
}

impl Default for AimOptions {
    fn default() -> Self {
        AimOptions {
            rounds: None,
            max_model_size_mb: 80.0,
            selection_share: 0.1,
            // Single precision: the refits, most of a high-budget run, take 1.5-1.7x less
            // time per calibrated cell, with the same accuracy (docs/performance.md, session 21).
            estimation: EstimationOptions {
                max_iters: 500,
                move_tol: Some(0.03),
                single_precision: true,
                ..EstimationOptions::default()
            },
            round_iters: 100,
            round_tol: 1e-6,
            round_ipf: false,
            round_move_tol: None,
            round_iters_min: Some(50),
            round_carry_step: None,
            unit: PrivacyUnit::Record,
            knowledge: SchemaKnowledge::default(),
            compress: true,
            compress_sigmas: 3.0,
            one_way_target: 0.1,
            one_way_share: 0.5,
            noise_free_max_model_size_mb: 4.0,
            noise_free_relative: 1e-3,
            grow_above: WIDE_CANDIDATES,
            fit_work: None,
            round_batch: 3,
        }
    }
}

const BYTES_PER_CELL: f64 = 8.0;

fn mb_to_cells(mb: f64) -> usize {
    (mb * 1024.0 * 1024.0 / BYTES_PER_CELL) as usize
}

/// Expected L1 norm of Gaussian noise on `cells` cells: sqrt(2/pi) sigma per cell.
pub fn expected_noise_l1(sigma: f64, cells: usize) -> f64 {
    (2.0 / std::f64::consts::PI).sqrt() * sigma * cells as f64
}

/// How far a refit moved the model's answer on `clique` (L1) from its answer `before` the
/// round's measurement: the annealing test compares it with [`expected_noise_l1`] of that
/// measurement (proofs/aim.md, "annealing"; model marginals only, post-processing).
pub fn moved_l1(model: &GraphicalModel, clique: &Clique, before: &MarginalTable) -> f64 {
    let after = model.project(clique);
    before
        .values
        .iter()
        .zip(&after.values)
        .map(|(a, b)| (a - b).abs())
        .sum()
}

/// Runs AIM for `workload` on the data behind `oracle`, spending the whole budget.
pub fn aim<O: MarginalOracle>(
    oracle: &O,
    budget: Budget,
    workload: &Workload,
    opts: &AimOptions,
    progress: &dyn Progress,
) -> Result<Fitted, MechanismError> {
    // A budget beyond the noise-free ceiling is spent only up to it (item 9 of issue #13).
    let mut acc = Accountant::new(Rho::new(spendable_rho(&budget, &opts.unit))?);
    // Any failure after the first charge says that budget was spent (issue #13, item 5).
    run_aim(oracle, budget, workload, opts, progress, &mut acc).map_err(|e| e.after_charges(&acc))
}

/// The body of [`aim`], charging `acc`.
fn run_aim<O: MarginalOracle>(
    oracle: &O,
    budget: Budget,
    workload: &Workload,
    opts: &AimOptions,
    progress: &dyn Progress,
    acc: &mut Accountant,
) -> Result<Fitted, MechanismError> {
    let domain = oracle.domain().clone();
    let d = domain.len();
    if d == 0 {
        return Err(MechanismError::EmptyDomain);
    }
    let rho = acc.budget().value();
    let mut phases = Vec::new();
    // The initialisation measures every one-way at one round's noise level, so at least
    // d + 1 rounds of budget are needed for any adaptive round to remain.
    let rounds = opts.rounds.unwrap_or(16 * d).max(d + 1);
    let sel = opts.selection_share.clamp(1e-6, 0.99);

    // Initial per-round noise: the paper's sigma = sqrt(T / (2 (1 - s) rho)), eps_sel from s rho / T.
    let mut rho_measure = (1.0 - sel) * rho / rounds as f64;
    let mut rho_select = sel * rho / rounds as f64;

    // One size cap for the candidate filter and every fit (issue #13, item 5): a candidate
    // the filter lets through never makes a later fit fail with TooLarge. The one-way model
    // must fit under the first round's size limit (a fraction of the cap that only grows)
    // before anything is spent, so that no round can find every candidate too large. It is
    // checked on the uncompressed domain, which is never smaller than the compressed one.
    let mut max_cells = mb_to_cells(opts.max_model_size_mb);
    let first_limit_for =
        |cells: usize| cells as f64 * ((d + 1) as f64 * rho_measure + rho_select) / rho;
    {
        let mut est = opts.estimation.clone();
        est.max_cells = max_cells;
        let one_way_cliques = fit_cliques((0..d).map(|a| Clique::new([a])), &est);
        if model_size_cells(&domain, &one_way_cliques) as f64
            > first_limit_for(max_cells) * (1.0 - 1e-9)
        {
            return Err(MechanismError::NoCandidate(opts.max_model_size_mb));
        }
    }

    // One-way marginals of every column at the initial sigma, and more budget for them when
    // they are too noisy to trust (small tables; see `OneWays::measure`).
    let t = Instant::now();
    progress.start("one-way marginals", d);
    let unit = &opts.unit;
    let sigma = gaussian_scale_for(Rho::new(rho_measure)?, unit.marginal_sensitivity())?;
    let one_ways = OneWays::measure(oracle, acc, sigma, opts, progress)?;
    progress.finish();
    phases.push(("one-way marginals".to_string(), t.elapsed()));

    // Noise-free regime (post-processing of the noisy one-ways): a smaller size cap, kept
    // only if the one-way model still fits the first round's limit under it, so that the
    // allowed set stays non-empty (the check above, for the smaller cap).
    if one_ways.relative < opts.noise_free_relative {
        let fast = max_cells.min(mb_to_cells(opts.noise_free_max_model_size_mb));
        let mut est = opts.estimation.clone();
        est.max_cells = fast;
        let one_way_cliques = fit_cliques((0..d).map(|a| Clique::new([a])), &est);
        if model_size_cells(&domain, &one_way_cliques) as f64
            <= first_limit_for(fast) * (1.0 - 1e-9)
        {
            max_cells = fast;
        }
    }

    // Domain compression from the noisy one-ways, as in MST (post-processing): values whose
    // noisy count is below the threshold share one code for the rest of the run. Only when
    // the one-ways were too noisy for the table (the second pass ran): on full adult at
    // epsilon 0.3, where it does not, merging values under 3 sigma (about 900 records)
    // raised the 3-way error from 0.193 to 0.205 (5 runs each). The threshold grows from
    // zero at that trigger (`compression_threshold`).
    let compression = if opts.compress && one_ways.second_pass {
        Compression::from_noisy_one_ways_ordered(
            &one_ways.combined,
            compression_threshold(
                one_ways.relative,
                opts.one_way_target,
                one_ways.sigma,
                opts.compress_sigmas,
            ),
            &opts.knowledge.ordered_codes(),
        )
    } else {
        Compression::identity(&domain)
    };
    // Columns in a rule's structural zeros stay unmerged (knowledge.rs: merging blurs the mask).
    let compression = opts.knowledge.keep_rule_columns(compression);
    // A merged run of bins splits by the tapered within-bin density, not by noisy counts.
    let compression = opts
        .knowledge
        .smooth_run_weights(&one_ways.combined, compression);
    // Automatic bins merge from the noisy one-ways too (post-processing); the rest of AIM
    // runs on the merged domain, with the rules' structural zeros (public).
    let compression =
        opts.knowledge
            .merge_auto_bins(&one_ways.combined, one_ways.sigma, compression);
    let zeros = opts.knowledge.zeros(&compression)?;
    let domain = compression.domain(&domain);
    let coracle = CompressedOracle::new(oracle, &compression);
    let oracle = &coracle;
    let mut measurements: Vec<Measurement> = one_ways
        .raw
        .iter()
        .map(|m| compression.compress_one_way(m))
        .collect();
    let summed: Vec<usize> = (0..measurements.len()).collect();

    // Candidates and their exact answers (private; only read by select_worst).
    let t = Instant::now();
    let candidates = workload.candidates();
    let cand_list: Vec<Clique> = candidates.keys().cloned().collect();
    let cand_weights: Vec<f64> = candidates.values().copied().collect();
    let sensitivity = selection_sensitivity(&cand_weights, &opts.unit);
    // Public: decided by the workload's size alone.
    let grow = cand_list.len() > opts.grow_above;
    // Fetched before any noise is drawn (a failing source costs no budget): the candidates
    // and the one-ways, everything AIM measures.
    let mut wanted = cand_list.clone();
    wanted.extend((0..d).map(|a| Clique::new([a])));
    oracle.prefetch(&wanted)?;
    progress.start("exact candidate marginals", cand_list.len());
    let mut answers = Vec::with_capacity(cand_list.len());
    for c in &cand_list {
        answers.push(oracle.marginal(c)?);
        progress.inc();
    }
    progress.finish();
    phases.push(("candidate marginals".to_string(), t.elapsed()));

    let t = Instant::now();
    let mut est = EstimationOptions {
        zeros,
        ..opts.estimation.clone()
    };
    est.max_cells = max_cells;
    let mut tracker = SelectionTracker::new(rounds);
    let mut final_est = est.clone();
    let (mut model, one_way_report) = estimate(&domain, &measurements, &est, None)?;
    // The line search's last step, for the next fit (`round_carry_step`).
    let carry = |step: Option<f64>| {
        step.zip(opts.round_carry_step)
            .map(|(s, f)| s * f)
            .filter(|s| s.is_finite() && *s > 0.0)
    };
    let mut last_step = one_way_report.step;
    phases.push(("one-way model".to_string(), t.elapsed()));

    // Rounds.
    let t = Instant::now();
    progress.start("AIM rounds", rounds);
    let mut round = 0usize;
    let mut last = false;
    let (mut t_filter, mut t_select, mut t_measure, mut t_refit) = (0.0f64, 0.0, 0.0, 0.0);
    // Two-stage refits (`round_iters_min`): the first stage's cap, then the rest.
    let first_stage = opts
        .round_iters_min
        .map_or(opts.round_iters, |k| k.min(opts.round_iters));
    est.max_iters = first_stage;
    est.tol = opts.round_tol;
    est.warm_ipf = opts.round_ipf;
    est.move_tol = opts.round_move_tol;
    // The refits reuse each other's memory (`Estimator`: same results, fewer page faults);
    // each round gives the replaced model back to it.
    let mut estimator = Estimator::new();
    // The size filter's triangulation sizes, kept from one round to the next (same verdicts).
    let mut size_memo = SizeMemo::default();
    // The rounds' refit work so far (calibrated cells) and its refits' calibrations.
    let (mut work, mut refit_calibrations, mut refits) = (0.0f64, 0usize, 0usize);
    while !last {
        // One batch of rounds on the model of the batch's start (`round_batch`); each pick:
        // the clique, the model's answer before it was measured, its noise's expected L1.
        let mut batch: Vec<(Clique, MarginalTable, f64)> = Vec::new();
        let mut model_answers: HashMap<usize, MarginalTable> = HashMap::new();
        while batch.len() < opts.round_batch.max(1) {
            let remaining = acc.remaining();
            let (saved_measure, saved_select) = (rho_measure, rho_select);
            // If fewer than two rounds of budget are left, spend all of it now.
            if remaining < 2.0 * (rho_measure + rho_select) {
                rho_measure = (1.0 - sel) * remaining * (1.0 - 1e-12);
                rho_select = sel * remaining * (1.0 - 1e-12);
                last = true;
            }
            let sigma = gaussian_scale_for(Rho::new(rho_measure)?, unit.marginal_sensitivity())?;
            let spent_after = acc.spent() + rho_measure + rho_select;
            let size_limit = ((max_cells as f64 * spent_after / rho) as usize).min(max_cells);

            // Candidates whose measurement keeps the model within the size limit, computed
            // exactly as the refit will compute it (proofs/aim.md).
            // With a large workload, only candidates grown from measured cliques are open
            // (candidates.rs; a function of earlier outputs, proofs/aim.md).
            let tf = Instant::now();
            let measured_now: Vec<Clique> = measurements.iter().map(|m| m.clique.clone()).collect();
            let open = open_candidates(&cand_list, &measured_now, grow);
            let measured = fit_cliques(measured_now, &est);
            let mut allowed = fitting_candidates(
                &domain,
                &measured,
                &cand_list,
                &open,
                size_limit,
                &mut size_memo,
            );
            // A batch's picks share no attribute (`round_batch`; public: the batch's own
            // outputs).
            allowed.retain(|&i| batch.iter().all(|(c, _, _)| disjoint(c, &cand_list[i])));
            t_filter += tf.elapsed().as_secs_f64();
            if allowed.is_empty() {
                if batch.is_empty() {
                    return Err(MechanismError::NoCandidate(opts.max_model_size_mb));
                }
                // Nothing more fits beside this batch's picks: refit, then go on.
                rho_measure = saved_measure;
                rho_select = saved_select;
                last = false;
                break;
            }
            round += 1;
            let ts = Instant::now();
            // The model's answers, once per batch for each candidate (the model does not
            // change within a batch; a later pick's larger size limit may let new ones in).
            let missing: Vec<usize> = allowed
                .iter()
                .copied()
                .filter(|i| !model_answers.contains_key(i))
                .collect();
            if !missing.is_empty() {
                let cliques: Vec<Clique> = missing.iter().map(|&i| cand_list[i].clone()).collect();
                model_answers.extend(missing.into_iter().zip(model.project_many(&cliques)));
            }
            let estimates: Vec<&MarginalTable> =
                allowed.iter().map(|i| &model_answers[i]).collect();
            let selected = select_worst(
                acc,
                &domain,
                &allowed,
                &estimates,
                &cand_list,
                &cand_weights,
                &answers,
                sigma,
                rho_select,
                sensitivity,
                round,
            )?;
            t_select += ts.elapsed().as_secs_f64();
            let chosen = allowed[selected.winner];
            let clique = cand_list[chosen].clone();
            let before = model.project(&clique);
            let tm = Instant::now();
            let m = measure_marginal_with_sigma(
                oracle,
                acc,
                &clique,
                sigma,
                unit,
                &format!("AIM round {round} measurement"),
            )?;
            t_measure += tm.elapsed().as_secs_f64();
            // Error bars for the candidates (post-processing; proofs/accuracy.md).
            let scored: Vec<Scored> = allowed
                .iter()
                .zip(estimates)
                .map(|(&i, est)| Scored {
                    clique: &cand_list[i],
                    weight: cand_weights[i],
                    penalty: expected_noise_l1(sigma, cand_list[i].cells(&domain)),
                    estimate: est,
                })
                .collect();
            tracker.round(&scored, selected.winner, selected.scale, &m.values, sigma);
            measurements.push(m);
            let noise = expected_noise_l1(sigma, clique.cells(&domain));
            batch.push((clique, before, noise));
            if last {
                break;
            }
        }
        let tr = Instant::now();
        est.initial_step = carry(last_step).or(opts.estimation.initial_step);
        let (refit, mut fit_report) =
            estimator.estimate(&domain, &measurements, &est, Some(&model))?;
        work += refit.size_cells() as f64 * fit_report.calibrations as f64;
        refit_calibrations += fit_report.calibrations;
        refits += 1;
        last_step = fit_report.step.or(last_step);
        let hardly_moved = |model: &GraphicalModel| {
            batch
                .iter()
                .any(|(clique, before, noise)| moved_l1(model, clique, before) <= *noise)
        };
        let mut small_move = hardly_moved(&refit);
        estimator.recycle(std::mem::replace(&mut model, refit));
        // Second stage: only when the annealing test would fire on the first stage's model
        // and that refit ran out of iterations (`round_iters_min`).
        if small_move && first_stage < opts.round_iters && !fit_report.converged {
            let more = EstimationOptions {
                max_iters: opts.round_iters - first_stage,
                initial_step: carry(last_step).or(opts.estimation.initial_step),
                ..est.clone()
            };
            let (refit, report) =
                estimator.estimate(&domain, &measurements, &more, Some(&model))?;
            work += refit.size_cells() as f64 * report.calibrations as f64;
            refit_calibrations += report.calibrations;
            last_step = report.step.or(last_step);
            small_move = hardly_moved(&refit);
            estimator.recycle(std::mem::replace(&mut model, refit));
            fit_report.iterations += report.iterations;
            fit_report.converged = report.converged;
        }
        t_refit += tr.elapsed().as_secs_f64();
        // Annealing: a measurement that hardly changed the model was too noisy to help; or
        // the remaining budget would last more rounds than the compute budget affords.
        let over_work = opts.fit_work.is_some_and(|budget| {
            let per_round = model.size_cells() as f64 * refit_calibrations as f64 / refits as f64;
            let affordable = ((budget - work) / per_round).floor().max(1.0);
            acc.remaining() / (rho_measure + rho_select) > 2.0 * affordable
        });
        if !last && (small_move || over_work) {
            rho_measure *= 4.0;
            rho_select *= 4.0;
        }
        for _ in 0..batch.len() {
            progress.inc();
        }
        progress.message(&format!(
            "round {round}: rho {:.4} of {:.4} spent, model {:.1} MB, refit {} iterations{}",
            acc.spent(),
            rho,
            model.size_cells() as f64 * BYTES_PER_CELL / (1024.0 * 1024.0),
            fit_report.iterations,
            if fit_report.converged {
                " (converged)"
            } else {
                ""
            },
        ));
    }
    progress.finish();
    phases.push((format!("{round} rounds"), t.elapsed()));
    for (name, secs) in [
        ("  of which candidate filter", t_filter),
        ("  of which selection", t_select),
        ("  of which measurement", t_measure),
    ] {
        phases.push((name.to_string(), std::time::Duration::from_secs_f64(secs)));
    }
    phases.push((
        format!("  of which refits ({refits} refits, {work:.2e} calibrated cells)"),
        std::time::Duration::from_secs_f64(t_refit),
    ));

    // Final fit with the full iteration budget.
    let t = Instant::now();
    progress.start("estimation", 1);
    final_est.initial_step = carry(last_step).or(opts.estimation.initial_step);
    let (model, report) = estimator.estimate(&domain, &measurements, &final_est, Some(&model))?;
    // Released: its probabilities as its file will have them (`GraphicalModel::recalibrated`).
    let model = model.recalibrated();
    // The kept buffers are not needed after the last fit.
    drop(estimator);
    progress.finish();
    phases.push(("estimation".to_string(), t.elapsed()));
    // The unmeasured cliques' bounds answer every scored candidate on the final model: on
    // NIST at epsilon 10 that took about 90 s, untimed before (2026-12-02).
    let t = Instant::now();
    let selection = tracker.finish(&model);
    phases.push(("selection bounds".to_string(), t.elapsed()));

    Ok(Fitted {
        mechanism: "aim".into(),
        budget,
        unit: opts.unit.clone(),
        ledger: acc.ledger().to_vec(),
        spent: acc.spent(),
        compression,
        measurements,
        model,
        estimation: report,
        phases,
        workload: workload.cliques.iter().map(|(c, _)| c.clone()).collect(),
        selection: selection.bounds,
        selection_rounds: selection.rounds,
        selection_records: selection.records,
        summed,
        accuracy: None,
    })
}

/// The one-way stage: every column's noisy one-way at AIM's initial noise, and a second
/// measurement of each when the first is too noisy for the table's size.
struct OneWays {
    /// The measurements as taken (one or two per column, in column order per pass).
    raw: Vec<Measurement>,
    /// Per column, the inverse-variance combination of its measurements.
    combined: Vec<Vec<f64>>,
    /// The noise scale of the combination.
    sigma: f64,
    /// Whether the one-ways were too noisy and measured again (a small table).
    second_pass: bool,
    /// The first pass's expected relative L1 noise `mean_a sqrt(2/pi) sigma n_a / N_hat`.
    relative: f64,
}

impl OneWays {
    /// Measures every one-way at `sigma`; if their expected relative L1 noise
    /// `mean_a sqrt(2/pi) sigma n_a / N_hat` exceeds `opts.one_way_target`, measures them all
    /// again with the budget that brings the combination to the target, capped so that the
    /// one-ways hold at most `opts.one_way_share` of the budget. The test
    /// reads only the noisy one-ways (their total `N_hat`) and public sizes: post-processing,
    /// so the second pass is an adaptively chosen mechanism (proofs/aim.md).
    fn measure<O: MarginalOracle>(
        oracle: &O,
        acc: &mut Accountant,
        sigma: f64,
        opts: &AimOptions,
        progress: &dyn Progress,
    ) -> Result<Self, MechanismError> {
        let domain = oracle.domain();
        let d = domain.len();
        let unit = &opts.unit;
        let mut raw = Vec::with_capacity(2 * d);
        for a in 0..d {
            raw.push(measure_marginal_with_sigma(
                oracle,
                acc,
                &Clique::new([a]),
                sigma,
                unit,
                "one-way marginal",
            )?);
            progress.inc();
        }
        let n_hat = noisy_total(&raw);
        let relative = raw
            .iter()
            .map(|m| expected_noise_l1(sigma, m.values.len()) / n_hat)
            .sum::<f64>()
            / d as f64;
        // The combined noise scale that would meet the target (relative noise is
        // proportional to sigma), the budget it needs beyond the first pass, and the cap.
        let spent = acc.spent();
        let cap = opts.one_way_share.clamp(0.0, 0.9) * acc.budget().value();
        if relative <= opts.one_way_target || cap <= spent {
            let combined = raw.iter().map(|m| m.values.clone()).collect();
            return Ok(OneWays {
                raw,
                combined,
                sigma,
                second_pass: false,
                relative,
            });
        }
        let k = unit.marginal_sensitivity() as f64;
        let sigma_target = sigma * opts.one_way_target / relative;
        let needed = k * k / 2.0 * (1.0 / (sigma_target * sigma_target) - 1.0 / (sigma * sigma));
        let rho_each = needed.min(share(cap - spent, d));
        let mut second = Vec::with_capacity(d);
        for a in 0..d {
            second.push(measure_marginal(
                oracle,
                acc,
                &Clique::new([a]),
                rho_each,
                unit,
                "one-way marginal (second pass: small table)",
            )?);
        }
        let s2 = second[0].sigma;
        let (w1, w2) = (1.0 / (sigma * sigma), 1.0 / (s2 * s2));
        let combined = raw
            .iter()
            .zip(&second)
            .map(|(m1, m2)| {
                m1.values
                    .iter()
                    .zip(&m2.values)
                    .map(|(y1, y2)| (w1 * y1 + w2 * y2) / (w1 + w2))
                    .collect()
            })
            .collect();
        raw.extend(second);
        Ok(OneWays {
            raw,
            combined,
            sigma: 1.0 / (w1 + w2).sqrt(),
            second_pass: true,
            relative,
        })
    }
}

/// AIM's domain-compression threshold, in records: `sigmas * sigma` (`sigma` the combined
/// one-ways' noise scale) times `clamp(relative / target - 1, 0, 1)`, where `relative` is
/// the first one-way pass's expected relative L1 noise and `target` the level above which
/// the second pass runs. So the threshold grows from zero at the trigger to the full
/// `sigmas * sigma` (MST's rule) where the first pass was twice as noisy as the target.
/// A step there, as before 2026-12-04, merged every value under 3 sigma (on NIST
/// national2019 at epsilon 0.3 about 880 records, 3% of the table: 14 of 31 PUMAs) in a
/// table just over the trigger and nothing in one just under it: adult at 40,000 rows
/// had 3-way L1 0.2213 at epsilon 0.3 where the full 48,842 rows, with no compression, have
/// 0.19. Near the trigger the rounds soon measure at less noise than the one-ways (they
/// anneal), so values of a few one-way sigmas are resolved by the model, and merging them
/// costs their detail in every marginal. Measured in seven cells between the trigger and
/// twice it, 20 runs each (proofs/aim.md, step 2; docs/performance.md, session 27): lower
/// in all seven, by 0.007-0.017. Post-processing: `relative` and `sigma` are functions of
/// the noisy one-ways and public options.
pub fn compression_threshold(relative: f64, target: f64, sigma: f64, sigmas: f64) -> f64 {
    let ramp = if target > 0.0 {
        (relative / target - 1.0).clamp(0.0, 1.0)
    } else {
        1.0
    };
    sigmas * sigma * ramp
}

/// Inverse-variance combination of the one-ways' sums (each has variance `n_a sigma^2`),
/// floored at 1: a DP estimate of the number of rows.
fn noisy_total(one_ways: &[Measurement]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for m in one_ways {
        let v = m.sigma * m.sigma * m.values.len() as f64;
        num += m.values.iter().sum::<f64>() / v;
        den += 1.0 / v;
    }
    (num / den).max(1.0)
}

/// A round's choice, with what error bars need: the model's answers it scored against (in
/// the order of `allowed`) and the Gumbel scale.
struct Selected {
    /// Index into `allowed`.
    winner: usize,
    scale: f64,
}

/// Whether two cliques share no attribute (both sorted).
fn disjoint(a: &Clique, b: &Clique) -> bool {
    let (mut i, mut j) = (0, 0);
    let (x, y) = (a.attrs(), b.attrs());
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return false,
        }
    }
    true
}

/// L-infinity sensitivity of AIM's selection scores: one unit moves a candidate's exact L1
/// error by at most `K` (`unit.score_sensitivity(1.0)`), hence its score by at most
/// `w_C K`; the largest weight of the **whole** candidate set bounds every round's
/// allowed subset, and `score::weighted_score_sensitivity` adds the bound on the weight's
/// rounding. One number for the run, so `dpsynth verify` can recompute it from the
/// certificate's workload (proofs/aim.md).
pub fn selection_sensitivity(weights: &[f64], unit: &PrivacyUnit) -> f64 {
    let max_weight = weights
        .iter()
        .copied()
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    weighted_score_sensitivity(max_weight, unit.score_sensitivity(1.0))
}

/// The exponential mechanism over allowed candidates with AIM's quality
/// `w_C * (||M_C(D) - M_C(p)||_1 - sqrt(2/pi) sigma n_C)`, computed exactly up to the weight's
/// rounding (`score::weighted_score`); `sensitivity` is [`selection_sensitivity`], not
/// monotone (proofs/aim.md, proofs/exponential-selection.md).
#[allow(clippy::too_many_arguments)]
fn select_worst(
    acc: &mut Accountant,
    domain: &Domain,
    allowed: &[usize],
    estimates: &[&MarginalTable],
    cand_list: &[Clique],
    cand_weights: &[f64],
    answers: &[MarginalTable],
    sigma: f64,
    rho_select: f64,
    sensitivity: f64,
    round: usize,
) -> Result<Selected, MechanismError> {
    // Candidate by candidate in parallel: each score is an exact function of its own
    // tables, so the order of evaluation changes nothing.
    let scores: Vec<f64> = allowed
        .par_iter()
        .zip(estimates.par_iter())
        .map(|(&i, est)| {
            let l1 = l1_distance(&answers[i].values, &est.values);
            weighted_score(
                cand_weights[i],
                l1,
                expected_noise_l1(sigma, cand_list[i].cells(domain)),
            )
        })
        .collect();
    let scale = noisy_max_scale_for(Rho::new(rho_select)?, sensitivity, false)?;
    let purpose = format!(
        "AIM round {round} selection among {} candidates",
        allowed.len()
    );
    let k = select_noisy_max(acc, &scores, sensitivity, false, scale, &purpose, vec![])?;
    Ok(Selected { winner: k, scale })
}

#[derive(serde::Deserialize)]
struct WorkloadFile {
    cliques: Vec<WorkloadEntry>,
}

#[derive(serde::Deserialize)]
struct WorkloadEntry {
    columns: Vec<String>,
    #[serde(default = "one")]
    weight: f64,
}

fn one() -> f64 {
    1.0
}

impl Workload {
    /// Parses a workload file (TOML or JSON):
    /// `[[cliques]] columns = ["age", "sex"] weight = 2.0` (weight defaults to 1).
    pub fn from_text(text: &str, source: &str, domain: &Domain) -> Result<Self, String> {
        let parsed: WorkloadFile = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| format!("{source}: {e}"))?
        } else {
            toml::from_str(text).map_err(|e| format!("{source}: {e}"))?
        };
        if parsed.cliques.is_empty() {
            return Err(format!("{source}: the workload lists no cliques"));
        }
        let mut cliques = Vec::new();
        for (i, e) in parsed.cliques.iter().enumerate() {
            let mut attrs = Vec::new();
            for c in &e.columns {
                attrs.push(domain.index_of(c).ok_or_else(|| {
                    format!("{source}: clique {} names column {c:?}, which is not a modelled column of the schema", i + 1)
                })?);
            }
            if attrs.is_empty() {
                return Err(format!("{source}: clique {} has no columns", i + 1));
            }
            if !(e.weight.is_finite() && e.weight > 0.0) {
                return Err(format!(
                    "{source}: clique {} has weight {}, which must be positive",
                    i + 1,
                    e.weight
                ));
            }
            cliques.push((Clique::new(attrs), e.weight));
        }
        Ok(Workload { cliques })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_downward_closure_with_paper_weights() {
        let w = Workload::all_k_way(4, 3);
        let c = w.candidates();
        assert_eq!(c.len(), 4 + 6 + 4);
        // {0} lies in 3 of the 4 triples, sharing one attribute with each.
        assert_eq!(c[&Clique::new([0])], 3.0);
        // {0,1} shares 2 with the 2 triples containing it and 1 with the other 2.
        assert_eq!(c[&Clique::new([0, 1])], 2.0 * 2.0 + 2.0);
        assert_eq!(c[&Clique::new([0, 1, 2])], 3.0 + 2.0 * 3.0);
    }

    /// Small table, small budget: the one-ways are too noisy, so they are measured twice and
    /// rare values merged; a large table at the same budget keeps one pass. Either way the
    /// whole budget is spent.
    #[test]
    fn small_tables_get_a_second_one_way_pass() {
        use crate::data::EncodedTable;
        use crate::marginal::InMemoryOracle;
        use crate::privacy::Delta;
        let table = |n: usize| {
            let rows: Vec<Vec<u32>> = (0..n as u32)
                .map(|i| vec![i % 2, (i / 2) % 10, i % 7])
                .collect();
            EncodedTable::from_rows(
                vec!["a".into(), "b".into(), "c".into()],
                vec![2, 10, 7],
                &rows,
            )
            .unwrap()
        };
        let budget = Budget::from_rho(Rho::new(0.01).unwrap(), Delta::new(1e-9).unwrap());
        let w = Workload::all_k_way(3, 2);
        let passes = |n: usize| {
            let t = table(n);
            let f = aim(
                &InMemoryOracle::new(&t),
                budget,
                &w,
                &AimOptions::default(),
                &super::super::NoProgress,
            )
            .unwrap();
            assert!((f.spent - 0.01).abs() < 1e-9, "{}", f.spent);
            let second = f
                .ledger
                .iter()
                .filter(|e| e.purpose.contains("second pass"))
                .count();
            (second, f.summed.len(), f.compression.groups[1].len())
        };
        let (second, summed, _) = passes(200);
        assert_eq!((second, summed), (3, 6));
        let (second, summed, groups) = passes(200_000);
        assert_eq!((second, summed, groups), (0, 3, 10));
    }

    /// AIM at rho 0.5 on a seeded 4-column table of 5,000 rows with `opts`: asserts the
    /// whole budget is spent and returns each round's measurement rho, in order.
    fn round_rhos_at_rho_half(opts: &AimOptions) -> Vec<f64> {
        use crate::data::EncodedTable;
        use crate::marginal::InMemoryOracle;
        use crate::privacy::Delta;
        let rows: Vec<Vec<u32>> = (0..5_000u32)
            .map(|i| vec![i % 3, (i / 3) % 4, (i % 3 + i / 7) % 5, i % 2])
            .collect();
        let names = (0..4).map(|j| format!("c{j}")).collect();
        let t = EncodedTable::from_rows(names, vec![3, 4, 5, 2], &rows).unwrap();
        let budget = Budget::from_rho(Rho::new(0.5).unwrap(), Delta::new(1e-9).unwrap());
        let f = aim(
            &InMemoryOracle::new(&t),
            budget,
            &Workload::all_k_way(4, 3),
            opts,
            &super::super::NoProgress,
        )
        .unwrap();
        assert!((f.spent - 0.5).abs() < 1e-9, "{}", f.spent);
        f.ledger
            .iter()
            .filter(|e| e.purpose.starts_with("AIM round") && e.mechanism != "noisy_max")
            .map(|e| e.rho)
            .collect()
    }

    /// Two-stage refits (`round_iters_min`) still spend the whole budget, and every
    /// round's measurement takes the previous one's rho or four times it (`verify`'s rule).
    #[test]
    fn two_stage_refits_spend_the_budget_and_anneal_by_four() {
        let opts = AimOptions {
            round_iters: 20,
            round_iters_min: Some(5),
            ..AimOptions::default()
        };
        let rhos = round_rhos_at_rho_half(&opts);
        assert!(rhos.len() >= 2);
        for w in rhos[..rhos.len() - 1].windows(2) {
            let r = w[1] / w[0];
            assert!((r - 1.0).abs() < 1e-6 || (r - 4.0).abs() < 1e-6, "{r}");
        }
    }

    #[test]
    fn compression_threshold_ramps_from_the_trigger_to_mst_rule() {
        // At or below the trigger nothing merges; at twice it and beyond, MST's 3 sigma.
        assert_eq!(compression_threshold(0.1, 0.1, 200.0, 3.0), 0.0);
        assert_eq!(compression_threshold(0.05, 0.1, 200.0, 3.0), 0.0);
        assert!((compression_threshold(0.15, 0.1, 200.0, 3.0) - 300.0).abs() < 1e-9);
        assert!((compression_threshold(0.2, 0.1, 200.0, 3.0) - 600.0).abs() < 1e-9);
        assert!((compression_threshold(0.9, 0.1, 200.0, 3.0) - 600.0).abs() < 1e-9);
        // Monotone in the first pass's noise.
        let mut last = 0.0;
        for k in 0..50 {
            let t = compression_threshold(0.1 + 0.005 * k as f64, 0.1, 50.0, 3.0);
            assert!(t >= last);
            last = t;
        }
    }

    /// `disjoint` on sorted cliques: shared attributes anywhere in either list.
    #[test]
    fn disjoint_cliques_share_no_attribute() {
        let c = |v: &[usize]| Clique::new(v.iter().copied());
        assert!(disjoint(&c(&[0, 2, 4]), &c(&[1, 3, 5])));
        assert!(disjoint(&c(&[0]), &c(&[1, 2])));
        assert!(!disjoint(&c(&[0, 2, 4]), &c(&[4, 5])));
        assert!(!disjoint(&c(&[1, 7]), &c(&[0, 1])));
        assert!(!disjoint(&c(&[3]), &c(&[3])));
    }

    /// Batches (`round_batch`): the whole budget is spent, each round's measurement takes
    /// the previous one's rho or four times it (`verify`'s rule), and there are fewer
    /// refits than rounds but at least a third as many (a batch of three at most). One pick
    /// per refit (`round_batch` 1) refits every round.
    #[test]
    fn batches_spend_the_budget_in_fewer_refits() {
        use crate::data::EncodedTable;
        use crate::marginal::InMemoryOracle;
        use crate::privacy::Delta;
        let d = 9;
        let rows: Vec<Vec<u32>> = (0..4_000u32)
            .map(|i| {
                (0..d as u32)
                    .map(|j| (i / (j + 1) + i % (j + 2)) % 3)
                    .collect()
            })
            .collect();
        let names = (0..d).map(|j| format!("c{j}")).collect();
        let t = EncodedTable::from_rows(names, vec![3; d], &rows).unwrap();
        let budget = Budget::from_rho(Rho::new(0.3).unwrap(), Delta::new(1e-9).unwrap());
        let run = |k: usize| {
            let opts = AimOptions {
                round_iters: 10,
                round_batch: k,
                ..AimOptions::default()
            };
            aim(
                &InMemoryOracle::new(&t),
                budget,
                &Workload::all_k_way(d, 2),
                &opts,
                &super::super::NoProgress,
            )
            .unwrap()
        };
        let count = |f: &Fitted, what: &str| {
            let label = f
                .phases
                .iter()
                .find(|(n, _)| n.contains(what))
                .map(|(n, _)| n.clone())
                .unwrap();
            label
                .split_whitespace()
                .find_map(|w| w.trim_start_matches('(').parse::<usize>().ok())
                .unwrap()
        };
        for k in [1, 3] {
            let f = run(k);
            assert!((f.spent - 0.3).abs() < 1e-9, "{}", f.spent);
            let rounds = count(&f, " rounds");
            let refits = count(&f, "of which refits");
            let rhos: Vec<f64> = f
                .ledger
                .iter()
                .filter(|e| e.purpose.starts_with("AIM round") && e.mechanism != "noisy_max")
                .map(|e| e.rho)
                .collect();
            assert_eq!(rhos.len(), rounds);
            for w in rhos[..rhos.len() - 1].windows(2) {
                let r = w[1] / w[0];
                assert!((r - 1.0).abs() < 1e-6 || (r - 4.0).abs() < 1e-6, "{r}");
            }
            if k == 1 {
                assert_eq!(refits, rounds);
            } else {
                assert!(refits < rounds && 3 * refits >= rounds, "{refits} {rounds}");
            }
        }
    }

    /// A compute budget (`fit_work`) the first refit already exhausts anneals every refit:
    /// the 60 rounds the one-ways leave at the planned rate shrink by four each round, so
    /// the budget is spent within a handful of rounds, every round's rho the previous one's
    /// or four times it (`verify`'s rule), and the whole budget is still spent.
    #[test]
    fn compute_budget_anneals_every_round_once_exhausted() {
        // Off unless asked for: the defaults keep the paper's schedule.
        assert_eq!(AimOptions::default().fit_work, None);
        // One pick per refit: with batches the rounds of a batch share its rho.
        let opts = AimOptions {
            round_iters: 20,
            fit_work: Some(1.0),
            round_batch: 1,
            ..AimOptions::default()
        };
        let rhos = round_rhos_at_rho_half(&opts);
        // 60 rounds at the planned rate: after k rounds at most 60 / 4^k remain, and the
        // final-round rule fires once fewer than two are left.
        assert!((2..=5).contains(&rhos.len()), "{} rounds", rhos.len());
        for w in rhos[..rhos.len() - 1].windows(2) {
            assert!((w[1] / w[0] - 4.0).abs() < 1e-6, "{}", w[1] / w[0]);
        }
    }

    /// A budget in the noise-free regime fits under the smaller cap; with the regime off, the
    /// same budget grows the model past it.
    #[test]
    fn noise_free_budgets_use_the_smaller_model_cap() {
        use crate::data::EncodedTable;
        use crate::marginal::InMemoryOracle;
        use crate::privacy::Delta;
        // Six columns of 8 values, each pair dependent (one latent draw per row).
        let rows: Vec<Vec<u32>> = (0..20_000u32)
            .map(|i| {
                let h = i.wrapping_mul(2_654_435_761);
                (0..6u32)
                    .map(|j| ((h >> (3 * j)) % 8 + (i % 5) * j) % 8)
                    .collect()
            })
            .collect();
        let names = (0..6).map(|j| format!("c{j}")).collect();
        let t = EncodedTable::from_rows(names, vec![8; 6], &rows).unwrap();
        let budget = Budget::from_rho(Rho::new(1e6).unwrap(), Delta::new(1e-9).unwrap());
        let w = Workload::all_k_way(6, 3);
        let cap_mb = 0.01; // 1,310 cells
        let run = |relative: f64| {
            let opts = AimOptions {
                rounds: Some(12),
                noise_free_max_model_size_mb: cap_mb,
                noise_free_relative: relative,
                ..AimOptions::default()
            };
            let f = aim(
                &InMemoryOracle::new(&t),
                budget,
                &w,
                &opts,
                &super::super::NoProgress,
            )
            .unwrap();
            f.model.size_cells()
        };
        assert!(run(1e-3) <= mb_to_cells(cap_mb));
        assert!(run(0.0) > mb_to_cells(cap_mb));
    }

    #[test]
    fn wide_tables_default_to_two_way_workloads() {
        assert_eq!(Workload::default_for(15, &[]), Workload::all_k_way(15, 3));
        assert_eq!(Workload::all_k_way(29, 3).closure_len(), 4089);
        assert_eq!(Workload::default_for(29, &[]), Workload::all_k_way(29, 3));
        assert_eq!(Workload::default_for(30, &[]), Workload::all_k_way(30, 2));
        assert_eq!(Workload::default_for(60, &[]).cliques.len(), 1770);
        // One target keeps 60 columns at 3-way: C(59, 2) triples, 3,541 candidates.
        let t = Workload::default_for(60, &[7]);
        assert_eq!(t, Workload::targeting(60, 3, &[7]));
        assert_eq!(t.closure_len(), t.candidates().len());
    }

    #[test]
    fn target_workload_keeps_cliques_with_a_target_and_weights_its_pairs() {
        let w = Workload::targeting(5, 3, &[4]);
        // C(4, 2) = 6 triples contain column 4.
        assert_eq!(w.cliques.len(), 6);
        assert!(w.cliques.iter().all(|(c, _)| c.attrs().contains(&4)));
        let c = w.candidates();
        // {0, 4}: C(4, 2) + 3 = 9; {0, 1}: 2 (5 - 2) = 6.
        assert_eq!(c[&Clique::new([0, 4])], 9.0);
        assert_eq!(c[&Clique::new([0, 1])], 6.0);
        assert_eq!(Workload::targeting(5, 3, &[]), Workload::all_k_way(5, 3));
    }

    #[test]
    fn workload_file_parses_and_rejects_unknown_columns() {
        let d = Domain::new(vec!["a".into(), "b".into(), "c".into()], vec![2, 2, 2]);
        let w = Workload::from_text(
            "[[cliques]]\ncolumns = [\"a\", \"c\"]\nweight = 2.0\n",
            "w.toml",
            &d,
        )
        .unwrap();
        assert_eq!(w.cliques, vec![(Clique::new([0, 2]), 2.0)]);
        let e = Workload::from_text("{\"cliques\": [{\"columns\": [\"zz\"]}]}", "w.json", &d)
            .unwrap_err();
        assert!(e.contains("zz"), "{e}");
    }
}
