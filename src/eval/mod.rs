//! Curator-side evaluation: how close a synthetic table is to the real one, and whether it
//! looks like it copies real records.
//!
//! **Everything here reads the private data.** Its output is for the curator's internal use
//! and says so on its first line ([`NOTICE`]); it is never part of a release and spends no
//! privacy budget.
//!
//! Both tables are already encoded over the same [`Domain`] (same columns, same codes); the
//! synthetic table may have a different number of rows. Each table's counts are normalised
//! by its own row count.
//!
//! # What is computed
//!
//! Fidelity (see [`Fidelity`]):
//! - **k-way marginal L1** for k = 1, 2, 3: for each clique C (set of k columns), with
//!   `p`, `q` the real and synthetic shares over C's cells, `L1(C) = sum_cells |p - q|`
//!   (0 to 2). Over all k-subsets, or a seeded uniform sample of at most
//!   [`EvalOptions::max_marginals`] of them per k. Reported: mean and max L1 (and mean total
//!   variation `TV = L1 / 2`), the [`WORST_N`] worst cliques with the cell that differs most,
//!   and every evaluated clique's L1.
//! - **k-marginal score** (NIST SDNist style, 0 to 1000, higher is better):
//!   `1000 * (1 - mean TV) = 500 * (2 - mean L1)` over the evaluated 2-way marginals. The
//!   issue's "(2 - mean TV) x 500" only spans 0..1000 when its "TV" is the L1 sum of absolute
//!   differences (as in SDNist's code), so that is what is computed: identical tables score
//!   1000, tables with disjoint support on every pair score 0.
//! - **Per-column TV**: `0.5 * sum_v |p(v) - q(v)|` for each column (all columns, never sampled).
//! - **Pairwise associations**, for every pair of columns on each table: Pearson correlation
//!   of the codes (as ordered bins) when [`EvalOptions::numeric`] marks both columns numeric,
//!   otherwise Cramér's V without bias correction, `sqrt(chi2 / (n * (m - 1)))` with `m` the
//!   smaller number of occupied levels. Reported: both matrices and `|real - synthetic|`
//!   (undefined on one side only, e.g. a constant column, counts as 0 there).
//! - **TSTR** (when [`EvalOptions::target`] is set): accuracy on the real holdout of a
//!   categorical naive Bayes (Laplace alpha = 1, all other columns as features) trained on the
//!   real training half, and of the same classifier trained on all synthetic rows; plus the
//!   majority-class accuracy as a floor.
//!
//! Risk (see [`Risk`]). Real rows are split by a seeded ChaCha20 shuffle into a training half
//! (`n / 2` rows) and a holdout (the rest).
//! - **Exact matches** (all rows, no sampling): share of synthetic records equal to some real
//!   record, share of real records that appear in the synthetic data, and for the test the
//!   share of synthetic records equal to a training-half record against the share of holdout
//!   records equal to one (real data has natural duplicates; this is the baseline).
//! - **DCR**: Hamming distance on codes (number of differing columns). Up to
//!   [`EvalOptions::dcr_sample`] synthetic records and as many holdout records are drawn
//!   uniformly without replacement (seeded); each one's distance to its closest record among
//!   *all* training-half records is computed exactly. Reported: quantiles and histograms of
//!   both distributions, and the share of each within the holdout's 5th-percentile distance.
//!   The synthesizer saw the whole real table, holdout included, so a copying generator shows
//!   up with at most half its strength here; the test still separates copying from fresh draws.
//! - **Verdict**: flagged when either synthetic share (exact copies of training rows, or within
//!   the threshold distance) exceeds the holdout's by more than 1 percentage point and by more
//!   than 3 standard errors of a two-proportion z-test.

mod fidelity;
mod files;
pub mod fitness;
mod html;
mod joint;
mod risk;
mod tstr;

use std::time::Instant;

use serde::Serialize;

pub use files::{load_pair, EvalInputs};
pub use fitness::{fitness, Fitness, Verdict};
pub use html::render_html;

use crate::data::{Codes, EncodedTable};
use crate::marginal::{all_k_way, Domain};

/// First line of every evaluation output.
pub const NOTICE: &str = "INTERNAL: computed from the private data; not for release";

/// Number of worst marginals listed per k.
pub const WORST_N: usize = 10;

/// Marginal orders evaluated.
pub const KS: [usize; 3] = [1, 2, 3];

/// How to evaluate. `Default` gives all marginals, seed 0, 5,000 DCR samples, no TSTR and
/// every column categorical.
#[derive(Clone, Debug, Serialize)]
pub struct EvalOptions {
    /// Evaluate at most this many k-way marginals per k (a seeded uniform sample); `None`: all.
    pub max_marginals: Option<usize>,
    /// Seed of the holdout split, the marginal sample and the DCR sample.
    pub seed: u64,
    /// Synthetic (and holdout) records sampled for the DCR test; 0 skips it.
    pub dcr_sample: usize,
    /// Column to predict in the train-on-synthetic/test-on-real check; `None` skips it.
    pub target: Option<usize>,
    /// Per column: treat codes as ordered numeric bins (Pearson instead of Cramér's V when
    /// both columns of a pair are numeric). Empty means all categorical.
    pub numeric: Vec<bool>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            max_marginals: None,
            seed: 0,
            dcr_sample: 5000,
            target: None,
            numeric: Vec::new(),
        }
    }
}

/// Why an evaluation could not run. All are input errors the operator can fix.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("the domain has {domain} columns but the real table has {real} and the synthetic table {synthetic}")]
    ColumnCount {
        domain: usize,
        real: usize,
        synthetic: usize,
    },
    #[error("column {index} of the {table} table is `{name}` with {cardinality} codes, but the domain has `{domain_name}` with {domain_size}")]
    ColumnMismatch {
        table: &'static str,
        index: usize,
        name: String,
        cardinality: usize,
        domain_name: String,
        domain_size: usize,
    },
    #[error("column `{column}` of the {table} table holds code {code}, outside its {size} codes")]
    CodeOutOfRange {
        table: &'static str,
        column: String,
        code: u32,
        size: usize,
    },
    #[error("the {table} table has {rows} rows; evaluation needs at least {needed}")]
    TooFewRows {
        table: &'static str,
        rows: usize,
        needed: usize,
    },
    #[error("`numeric` has {got} entries; expected 0 or one per column ({expected})")]
    NumericLength { got: usize, expected: usize },
    #[error("target column {target} does not exist (the table has {n_cols} columns)")]
    TargetOutOfRange { target: usize, n_cols: usize },
    #[error("marginal {0} has too many cells to count")]
    TooLarge(String),
}

/// The evaluation. Serialises to JSON with [`EvalReport::to_json`].
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// Always [`NOTICE`].
    pub notice: String,
    /// The verdict that opens the report ([`fitness`]). [`evaluate`] judges without the
    /// release's `accuracy.json`; [`EvalReport::judge_with`] adds it.
    pub fitness: Fitness,
    pub columns: Vec<String>,
    /// True row counts: private, like everything else here.
    pub real_rows: usize,
    pub synthetic_rows: usize,
    pub options: EvalOptions,
    pub fidelity: Fidelity,
    pub tstr: Option<Tstr>,
    pub risk: Risk,
    pub timings: Timings,
}

#[derive(Clone, Debug, Serialize)]
pub struct Fidelity {
    /// One entry per k in [`KS`] that the table has enough columns for.
    pub marginals: Vec<KWayFidelity>,
    /// `500 * (2 - mean L1)` over the evaluated 2-way marginals, 0 to 1000; `None` with fewer
    /// than two columns.
    pub k_marginal_score: Option<f64>,
    pub column_tv: Vec<ColumnTv>,
    pub associations: Associations,
}

#[derive(Clone, Debug, Serialize)]
pub struct KWayFidelity {
    pub k: usize,
    /// Number of k-subsets of the columns.
    pub total_cliques: usize,
    /// Number evaluated (fewer when sampled by `max_marginals`).
    pub evaluated: usize,
    pub sampled: bool,
    pub mean_l1: f64,
    pub max_l1: f64,
    /// `mean_l1 / 2`.
    pub mean_tv: f64,
    /// The [`WORST_N`] largest errors, largest first.
    pub worst: Vec<WorstMarginal>,
    /// Every evaluated clique's error, in lexicographic clique order.
    pub all: Vec<CliqueError>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CliqueError {
    pub attrs: Vec<usize>,
    pub l1: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct WorstMarginal {
    pub columns: Vec<String>,
    pub attrs: Vec<usize>,
    pub l1: f64,
    pub tv: f64,
    /// Codes of the cell whose share differs most, one per column.
    pub cell: Vec<u32>,
    pub real_share: f64,
    pub synthetic_share: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ColumnTv {
    pub column: String,
    pub tv: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssociationKind {
    CramersV,
    Pearson,
}

/// Symmetric column-by-column matrices; the diagonal is `None`.
#[derive(Clone, Debug, Serialize)]
pub struct Associations {
    pub kind: Vec<Vec<AssociationKind>>,
    pub real: Vec<Vec<Option<f64>>>,
    pub synthetic: Vec<Vec<Option<f64>>>,
    pub abs_diff: Vec<Vec<Option<f64>>>,
    pub mean_abs_diff: Option<f64>,
    pub max_abs_diff: Option<f64>,
    pub max_pair: Option<[String; 2]>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tstr {
    pub target: String,
    pub classifier: String,
    pub train_rows_real: usize,
    pub train_rows_synthetic: usize,
    pub test_rows: usize,
    /// Accuracy of always predicting the training half's most common class.
    pub majority_baseline: f64,
    /// Trained on the real training half, tested on the real holdout.
    pub real_to_real: f64,
    /// Trained on the synthetic data, tested on the real holdout.
    pub synthetic_to_real: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Risk {
    /// Share of synthetic records equal to some real record.
    pub synthetic_in_real_share: f64,
    /// Share of real records that appear in the synthetic data.
    pub real_in_synthetic_share: f64,
    /// Share of synthetic records equal to some training-half record.
    pub synthetic_in_train_share: f64,
    /// Share of holdout records equal to some training-half record (the baseline).
    pub holdout_in_train_share: f64,
    /// `None` when `dcr_sample` is 0.
    pub dcr: Option<Dcr>,
    pub verdict: RiskVerdict,
}

#[derive(Clone, Debug, Serialize)]
pub struct Dcr {
    pub method: String,
    pub train_rows: usize,
    pub holdout_rows: usize,
    pub synthetic_sampled: usize,
    pub holdout_sampled: usize,
    pub synthetic_to_train: DcrQuantiles,
    pub holdout_to_train: DcrQuantiles,
    /// Share of sampled records at each distance 0..=columns.
    pub synthetic_histogram: Vec<f64>,
    pub holdout_histogram: Vec<f64>,
    /// The holdout's 5th-percentile distance.
    pub threshold: f64,
    /// Share of sampled synthetic records at distance <= threshold.
    pub synthetic_within_threshold: f64,
    /// Share of sampled holdout records at distance <= threshold (at least 5%).
    pub holdout_within_threshold: f64,
}

/// Nearest-rank quantiles (the smallest d with share(<= d) >= p) and the mean.
#[derive(Clone, Debug, Serialize)]
pub struct DcrQuantiles {
    pub min: f64,
    pub p5: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p95: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RiskVerdict {
    pub flagged: bool,
    pub text: String,
}

/// Wall-clock milliseconds per phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    pub marginals_ms: f64,
    pub associations_ms: f64,
    pub tstr_ms: f64,
    pub risk_ms: f64,
    pub total_ms: f64,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn validate(
    real: &EncodedTable,
    synth: &EncodedTable,
    domain: &Domain,
    opts: &EvalOptions,
) -> Result<(), EvalError> {
    let d = domain.len();
    if real.n_cols() != d || synth.n_cols() != d {
        return Err(EvalError::ColumnCount {
            domain: d,
            real: real.n_cols(),
            synthetic: synth.n_cols(),
        });
    }
    for (label, t) in [("real", real), ("synthetic", synth)] {
        for i in 0..d {
            let (name, card) = (&t.names()[i], t.cardinalities()[i]);
            if name != domain.name(i) || card != domain.size(i) {
                return Err(EvalError::ColumnMismatch {
                    table: label,
                    index: i,
                    name: name.clone(),
                    cardinality: card,
                    domain_name: domain.name(i).to_string(),
                    domain_size: domain.size(i),
                });
            }
            // Counting indexes by code, so a code past the domain would be out of bounds.
            let col = t.column(i);
            if let Some(code) = (0..t.n_rows())
                .map(|r| col.get(r))
                .find(|&c| c as usize >= domain.size(i))
            {
                return Err(EvalError::CodeOutOfRange {
                    table: label,
                    column: name.clone(),
                    code,
                    size: domain.size(i),
                });
            }
        }
    }
    if real.n_rows() < 2 {
        return Err(EvalError::TooFewRows {
            table: "real",
            rows: real.n_rows(),
            needed: 2,
        });
    }
    if synth.n_rows() < 1 {
        return Err(EvalError::TooFewRows {
            table: "synthetic",
            rows: 0,
            needed: 1,
        });
    }
    if !opts.numeric.is_empty() && opts.numeric.len() != d {
        return Err(EvalError::NumericLength {
            got: opts.numeric.len(),
            expected: d,
        });
    }
    if let Some(t) = opts.target {
        if t >= d {
            return Err(EvalError::TargetOutOfRange {
                target: t,
                n_cols: d,
            });
        }
    }
    Ok(())
}

/// Evaluates `synthetic` against `real`. See the module docs for what each figure means.
pub fn evaluate(
    real: &EncodedTable,
    synthetic: &EncodedTable,
    domain: &Domain,
    opts: &EvalOptions,
) -> Result<EvalReport, EvalError> {
    let start = Instant::now();
    validate(real, synthetic, domain, opts)?;
    let d = domain.len();

    // Marginals. The 2-way counts are kept: the association matrices need every pair.
    let t = Instant::now();
    let pairs = all_k_way(d, 2);
    let pair_counts = fidelity::count_both(real, synthetic, domain, &pairs)?;
    let mut marginals = Vec::new();
    let mut one_way = Vec::new();
    for k in KS {
        if k > d {
            continue;
        }
        let (chosen, total) = fidelity::choose_cliques(d, k, opts.max_marginals, opts.seed);
        let results = if k == 2 {
            fidelity::errors_from_counts(domain, &pairs, &pair_counts, &chosen)
        } else {
            fidelity::clique_errors(real, synthetic, domain, &chosen)?
        };
        if k == 1 {
            // Per-column TV always covers every column, even when 1-way marginals are sampled.
            one_way = if chosen.len() == total {
                results.clone()
            } else {
                fidelity::clique_errors(real, synthetic, domain, &all_k_way(d, 1))?
            };
        }
        marginals.push(fidelity::kway_summary(k, total, results));
    }
    let k_marginal_score = marginals
        .iter()
        .find(|m| m.k == 2 && m.evaluated > 0)
        .map(|m| 500.0 * (2.0 - m.mean_l1));
    let column_tv = fidelity::column_tv(domain, &one_way);
    let marginals_ms = ms(t);

    let t = Instant::now();
    let associations = fidelity::associations(domain, &pairs, &pair_counts, &opts.numeric);
    drop(pair_counts);
    let associations_ms = ms(t);

    let (train, holdout) = risk::split(real.n_rows(), opts.seed);

    let t = Instant::now();
    let tstr = opts
        .target
        .map(|target| tstr::tstr(real, synthetic, target, &train, &holdout));
    let tstr_ms = ms(t);

    let t = Instant::now();
    let risk = risk::risk(
        real,
        synthetic,
        &train,
        &holdout,
        opts.dcr_sample,
        opts.seed,
    );
    let risk_ms = ms(t);

    let mut report = EvalReport {
        notice: NOTICE.to_string(),
        fitness: Fitness::pending(),
        columns: domain.names().to_vec(),
        real_rows: real.n_rows(),
        synthetic_rows: synthetic.n_rows(),
        options: opts.clone(),
        fidelity: Fidelity {
            marginals,
            k_marginal_score,
            column_tv,
            associations,
        },
        tstr,
        risk,
        timings: Timings {
            marginals_ms,
            associations_ms,
            tstr_ms,
            risk_ms,
            total_ms: ms(start),
        },
    };
    report.fitness = fitness(&report, None);
    Ok(report)
}

/// The independence baseline: `real` with each column shuffled by its own seeded permutation.
/// It keeps every one-way marginal exactly and breaks every dependence between columns, so a
/// synthesizer should beat it on 2- and 3-way marginals; the bench and tests use it as a
/// same-size stand-in for synthetic data.
pub fn independent_baseline(real: &EncodedTable, seed: u64) -> EncodedTable {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let n = real.n_rows();
    let columns = (0..real.n_cols())
        .map(|c| {
            let mut perm: Vec<usize> = (0..n).collect();
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
            rng.set_stream(1000 + c as u64);
            perm.shuffle(&mut rng);
            let src = real.column(c);
            let mut col = Codes::with_cardinality(real.cardinalities()[c], n);
            for r in perm {
                col.push(src.get(r));
            }
            col
        })
        .collect();
    // Same names, cardinalities and column lengths as `real`, so `new` cannot refuse them.
    EncodedTable::new(
        real.names().to_vec(),
        real.cardinalities().to_vec(),
        columns,
    )
    .unwrap_or_else(|| real.clone())
}

impl EvalReport {
    /// Pretty-printed JSON. `notice` is the first field.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of numbers and strings cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Re-judges fitness with the release's `accuracy.json` (stated error and warnings).
    pub fn judge_with(&mut self, accuracy: &crate::model::accuracy::AccuracyReport) {
        self.fitness = fitness(self, Some(accuracy));
    }

    /// A few lines for the terminal; the first is [`NOTICE`], then the fitness verdict.
    pub fn summary_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "{NOTICE}");
        let _ = writeln!(s, "fitness: {}", self.fitness.headline);
        for c in &self.fitness.checks {
            let mark = match c.status {
                fitness::CheckStatus::Holds => "ok  ",
                fitness::CheckStatus::Fails => "FAIL",
                fitness::CheckStatus::NotAvailable => "n/a ",
            };
            let _ = writeln!(s, "  [{mark}] {}: {}", c.name, c.detail);
        }
        let _ = writeln!(
            s,
            "real rows: {}   synthetic rows: {}   columns: {}",
            self.real_rows,
            self.synthetic_rows,
            self.columns.len()
        );
        let f = &self.fidelity;
        if let Some(score) = f.k_marginal_score {
            let _ = writeln!(s, "k-marginal score (2-way, 0..1000): {score:.1}");
        }
        for m in &f.marginals {
            let sampled = if m.sampled {
                format!(" (sample of {} of {})", m.evaluated, m.total_cliques)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "{}-way marginal L1 over {} cliques{sampled}: mean {:.4}, worst {:.4}{}",
                m.k,
                m.evaluated,
                m.mean_l1,
                m.max_l1,
                m.worst
                    .first()
                    .map_or(String::new(), |w| format!(" ({})", w.columns.join(" x ")))
            );
        }
        if let Some(worst) = f.column_tv.iter().max_by(|a, b| a.tv.total_cmp(&b.tv)) {
            let mean =
                f.column_tv.iter().map(|c| c.tv).sum::<f64>() / f.column_tv.len().max(1) as f64;
            let _ = writeln!(
                s,
                "per-column TV: mean {mean:.4}, worst {:.4} ({})",
                worst.tv, worst.column
            );
        }
        if let (Some(mean), Some(max), Some(pair)) = (
            f.associations.mean_abs_diff,
            f.associations.max_abs_diff,
            &f.associations.max_pair,
        ) {
            let _ = writeln!(
                s,
                "association difference: mean {mean:.4}, worst {max:.4} ({} x {})",
                pair[0], pair[1]
            );
        }
        if let Some(t) = &self.tstr {
            let _ = writeln!(
                s,
                "TSTR accuracy on `{}` (naive Bayes, real holdout): real->real {:.4}, synthetic->real {:.4}, majority {:.4}",
                t.target, t.real_to_real, t.synthetic_to_real, t.majority_baseline
            );
        }
        let r = &self.risk;
        let _ = writeln!(
            s,
            "exact matches: {:.2}% of synthetic records equal a real record; {:.2}% of real records occur in the synthetic data",
            100.0 * r.synthetic_in_real_share,
            100.0 * r.real_in_synthetic_share
        );
        if let Some(d) = &r.dcr {
            let _ = writeln!(
                s,
                "DCR to training half (Hamming, median/5th pct): synthetic {}/{} ({} sampled), holdout {}/{} ({} sampled)",
                d.synthetic_to_train.p50,
                d.synthetic_to_train.p5,
                d.synthetic_sampled,
                d.holdout_to_train.p50,
                d.holdout_to_train.p5,
                d.holdout_sampled
            );
        }
        let _ = writeln!(s, "risk: {}", r.verdict.text);
        let _ = writeln!(s, "time: {:.0} ms", self.timings.total_ms);
        s
    }
}
