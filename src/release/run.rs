//! What a release run decides before it may draw noise, shared by the command line and the
//! Python package so both say the same thing: the privacy unit, the mechanism and its options,
//! and the operator's note about repeated ids. Nothing here reads private data except the
//! note's input, which the reader computed and which stays with the trusted operator.

use crate::marginal::{Domain, MarginalOracle};
use crate::mechanism::measure::spendable_rho;
use crate::mechanism::{
    fit, AimOptions, Fitted, MechanismError, MechanismSpec, MstOptions, Progress, SchemaKnowledge,
    Workload,
};
use crate::privacy::{Budget, PrivacyUnit};
use crate::schema::{ColumnKind, Schema};

/// A run's settings that cannot work, in the words the command line uses (its flag names;
/// the Python package's keyword arguments have the same names with underscores).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunError(pub String);

/// The privacy unit of a run: `column` and `max_rows` as given, else the schema's
/// `privacy_unit` and `max_rows_per_unit` (each given value wins over its schema field), else
/// one record.
pub fn resolve_unit(
    schema: &Schema,
    column: Option<&str>,
    max_rows: Option<u32>,
) -> Result<PrivacyUnit, RunError> {
    let declared = schema.privacy_unit();
    let column = column.or(declared.map(|(c, _)| c));
    let Some(column) = column else {
        if max_rows.is_some() {
            return Err(RunError("--max-rows-per-unit needs a privacy unit: --privacy-unit COLUMN, or privacy_unit in the schema".into()));
        }
        return Ok(PrivacyUnit::Record);
    };
    match schema.column(column).map(|c| c.kind()) {
        Some(ColumnKind::Id { .. }) => {}
        Some(k) => {
            return Err(RunError(format!(
                "--privacy-unit {column}: the column is a {} column; the privacy unit must be an `id` column of the schema (its values name the person or other unit)",
                k.name()
            )))
        }
        None => {
            return Err(RunError(format!(
                "--privacy-unit {column}: not a column of the schema {}; declare it with kind = \"id\"",
                schema.source_name()
            )))
        }
    }
    let k = max_rows
        .or(declared.filter(|(c, _)| *c == column).map(|(_, k)| k))
        .ok_or_else(|| {
            RunError(format!(
                "privacy unit {column}: give --max-rows-per-unit K, the most records of one {column} the model may use"
            ))
        })?;
    PrivacyUnit::column(column, k).map_err(|e| RunError(e.to_string()))
}

/// The operator's note when `id` columns repeat in a record-level run (PRIVATE: it says
/// something about the data; print it to the operator only, never into a release).
pub fn repeated_ids_note(
    repeated: &[String],
    data_name: &str,
    schema_name: &str,
) -> Option<String> {
    let first = repeated.first()?;
    let cols = repeated.join(", ");
    Some(format!(
        "note (private, for the operator only): values of the id column(s) {cols} repeat in {data_name}: one person (or other unit) may have several records, and this release protects each record, not each person. To protect every {first} with all of its records, declare the unit: --privacy-unit {first} --max-rows-per-unit K (`dpsynth schema check {schema_name} --data {data_name} --privacy-unit {first}` helps choose K)."
    ))
}

/// The mechanism's settings as a run gives them.
#[derive(Clone, Debug)]
pub struct MechanismChoice<'a> {
    /// `"aim"` or `"mst"`.
    pub mechanism: &'a str,
    /// AIM: a workload file's text and its name for messages; default all 3-way marginals.
    pub workload: Option<(&'a str, &'a str)>,
    /// AIM: cap on the model size in MB.
    pub max_model_size: f64,
    /// AIM: cap on the number of rounds.
    pub rounds: Option<usize>,
    /// AIM: compute budget of the rounds' refits in billions of calibrated cells
    /// (`AimOptions::fit_work`); `None`: unbounded.
    pub max_fit_work: Option<f64>,
    /// AIM: selections per refit (`AimOptions::round_batch`); `None`: the default (3).
    /// 1 is the paper's AIM, one refit per round.
    pub selections_per_refit: Option<usize>,
    /// Columns the synthetic data will be used to predict (`--target`): AIM's default
    /// workload weights the marginals that contain them.
    pub targets: &'a [String],
}

/// The mechanism a release runs over `domain` (the oracle's columns) for `unit`, with the
/// public knowledge of `schema` (automatic bins, rules): what `dpsynth fit`/`synth` and the
/// Python package's `fit` run.
pub fn release_spec(
    choice: &MechanismChoice,
    schema: &Schema,
    domain: &Domain,
    unit: &PrivacyUnit,
) -> Result<MechanismSpec, RunError> {
    let mut spec = mechanism_spec(choice, domain, unit)?;
    spec.set_knowledge(SchemaKnowledge::from_schema(schema));
    Ok(spec)
}

/// The mechanism and its options for `unit` over `domain`, without the schema's knowledge
/// (what `dpsynth plan` predicts from).
pub fn mechanism_spec(
    choice: &MechanismChoice,
    domain: &Domain,
    unit: &PrivacyUnit,
) -> Result<MechanismSpec, RunError> {
    let target_idx = choice
        .targets
        .iter()
        .map(|t| {
            domain.index_of(t).ok_or_else(|| {
                RunError(format!(
                    "--target {t:?} is not a modelled column of the schema"
                ))
            })
        })
        .collect::<Result<Vec<usize>, RunError>>()?;
    let mut spec = match choice.mechanism {
        "mst" => MechanismSpec::Mst(MstOptions::default()),
        "aim" => {
            check_max_model_size(choice.max_model_size).map_err(RunError)?;
            if let Some(w) = choice.max_fit_work {
                check_max_fit_work(w).map_err(RunError)?;
            }
            if choice.selections_per_refit == Some(0) {
                return Err(RunError(
                    "--selections-per-refit must be at least 1 (1: one refit per round)".into(),
                ));
            }
            let workload = match choice.workload {
                Some((text, name)) => Workload::from_text(text, name, domain).map_err(RunError)?,
                None => Workload::default_for(domain.len(), &target_idx),
            };
            let opts = AimOptions {
                rounds: choice.rounds,
                max_model_size_mb: choice.max_model_size,
                fit_work: choice
                    .max_fit_work
                    .filter(|w| w.is_finite())
                    .map(|w| w * 1e9),
                round_batch: choice
                    .selections_per_refit
                    .unwrap_or(AimOptions::default().round_batch),
                ..AimOptions::default()
            };
            MechanismSpec::Aim(opts, workload)
        }
        other => {
            return Err(RunError(format!(
                "unknown mechanism {other:?}: use \"aim\" (best fidelity) or \"mst\" (fastest)"
            )))
        }
    };
    spec.set_unit(unit.clone());
    Ok(spec)
}

/// Bootstrap replicates behind each error estimate of a release.
pub const ACCURACY_REPLICATES: usize = 2;

/// The operator's note when the budget is past the point where more changes anything
/// (public: a function of the budget and the unit only).
pub fn spendable_note(budget: &Budget, unit: &PrivacyUnit) -> Option<String> {
    let spend = spendable_rho(budget, unit);
    (spend < budget.rho.value()).then(|| format!(
        "note: a budget of rho {:.3e} is past the point where more budget changes anything: at rho {spend:.3e} every noise draw is already zero with overwhelming probability, so dpsynth spends only that. The certificate states the smaller rho and its epsilon, a stronger guarantee than the one asked for.",
        budget.rho.value()
    ))
}

/// A release's fit failed.
#[derive(Debug, thiserror::Error)]
pub enum FitFailure {
    /// The mechanism failed (it says whether budget was spent).
    #[error(transparent)]
    Mechanism(#[from] MechanismError),
    /// The error bars failed after the mechanism spent its budget.
    #[error("{context}: {source}")]
    Spent {
        context: String,
        source: MechanismError,
    },
}

/// AIM's `--max-model-size` (MB): positive and finite. The one rule for the CLI's parser
/// (a usage error before any file is read) and for the library's other callers.
pub fn check_max_model_size(mb: f64) -> Result<f64, String> {
    if mb.is_finite() && mb > 0.0 {
        Ok(mb)
    } else {
        Err("--max-model-size must be a positive number of MB".into())
    }
}

/// AIM's `--max-fit-work` (billions of calibrated cells): positive, `inf` for no bound. As
/// [`check_max_model_size`].
pub fn check_max_fit_work(gcells: f64) -> Result<f64, String> {
    if gcells > 0.0 {
        Ok(gcells)
    } else {
        Err(
            "--max-fit-work must be a positive number of billions of calibrated cells (or inf)"
                .into(),
        )
    }
}

/// Said of any failure after the model was fitted: its budget is spent.
pub fn spent_context(fitted: &Fitted) -> String {
    format!(
        "nothing was released, but the run had already spent rho {:.6e} of its privacy budget on noisy measurements; that privacy loss counts against these data",
        fitted.spent
    )
}

/// A release's fit, as the command line and the Python package run it: the mechanism over
/// `oracle`, then error bars from the DP outputs alone (post-processing; proofs/accuracy.md)
/// drawn with `accuracy_seed`.
pub fn fit_release<O: MarginalOracle>(
    oracle: &O,
    budget: Budget,
    spec: &MechanismSpec,
    progress: &dyn Progress,
    accuracy_seed: u64,
) -> Result<Fitted, FitFailure> {
    let mut fitted = fit(oracle, budget, spec, progress)?;
    progress.start("error bars", 1);
    if let Err(source) = fitted.assess(accuracy_seed, ACCURACY_REPLICATES) {
        return Err(FitFailure::Spent {
            context: spent_context(&fitted),
            source,
        });
    }
    progress.finish();
    Ok(fitted)
}
