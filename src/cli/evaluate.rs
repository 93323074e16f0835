//! `dpsynth evaluate`: curator-side fidelity and risk report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use dpsynth::data::describe;
use dpsynth::eval::{evaluate, load_pair, render_html, EvalOptions, NOTICE};
use dpsynth::release::{write_atomic, Certificate};
use dpsynth::schema::Schema;

/// Compare synthetic with real data. Reads the PRIVATE data: the output is for internal
/// use only and says so on its first line.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  dpsynth evaluate --real admissions.csv --synthetic release/synthetic.csv --schema admissions.schema.toml
  dpsynth evaluate --real adult.csv --synthetic s.csv --schema adult-domain.json --report report.html --json")]
pub struct EvaluateCmd {
    /// The real (private) data: CSV or Parquet.
    #[arg(long)]
    pub real: PathBuf,
    /// The synthetic data: CSV or Parquet.
    #[arg(long)]
    pub synthetic: PathBuf,
    /// The public schema both files follow.
    #[arg(long)]
    pub schema: PathBuf,
    /// Write a self-contained HTML report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print offending cell values in data errors (PRIVATE: the operator's choice; without
    /// it they name file, line and column only).
    #[arg(long)]
    pub show_values: bool,
    /// Column to predict in the train-on-synthetic/test-on-real check (TSTR); the fitness
    /// verdict puts it first.
    #[arg(long)]
    pub target: Option<String>,
    #[command(flatten)]
    pub opts: EvalArgs,
}

#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// Evaluate at most this many k-way marginals per k (seeded sample); default all.
    #[arg(long)]
    pub max_marginals: Option<usize>,
    /// Print offending cell values in data errors (set from the command's --show-values).
    #[arg(skip)]
    pub show_values: bool,
    /// Records sampled for the distance-to-closest-record test (0 skips it).
    #[arg(long, default_value_t = 5000)]
    pub dcr_sample: usize,
    /// The release's accuracy.json (default: the one beside the synthetic file, if any):
    /// the verdict compares its stated error with the measured error.
    #[arg(long)]
    pub accuracy: Option<PathBuf>,
    /// Column to predict (TSTR): `evaluate --target`, or synth's first `--target`.
    #[arg(skip)]
    pub target: Option<String>,
    /// Seed of the holdout split and samples.
    #[arg(long, default_value_t = 0)]
    pub eval_seed: u64,
}

/// Runs the evaluation and writes/prints it. Used by `evaluate` and `synth --evaluate`.
pub fn run_evaluation(
    real: &Path,
    synthetic: &Path,
    schema_path: &Path,
    args: &EvalArgs,
    report: Option<&Path>,
    json_out: Option<&Path>,
    print_json: bool,
) -> Result<()> {
    let schema = Schema::from_path(schema_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let inputs = load_pair(real, synthetic, &schema)
        .map_err(|e| anyhow::anyhow!("{}", describe(&e, args.show_values)))?;
    let target =
        match args.target.as_deref() {
            Some(t) => Some(inputs.domain.index_of(t).with_context(|| {
                format!("--target {t:?} is not a modelled column of the schema")
            })?),
            None => None,
        };
    let opts = EvalOptions {
        max_marginals: args.max_marginals,
        seed: args.eval_seed,
        dcr_sample: args.dcr_sample,
        target,
        numeric: inputs.numeric.clone(),
    };
    let mut rep = evaluate(&inputs.real, &inputs.synthetic, &inputs.domain, &opts)?;
    // The release's error bars and warnings (accuracy.json beside the synthetic file, or
    // --accuracy) let the verdict compare stated with measured error.
    let accuracy_path = args.accuracy.clone().or_else(|| {
        synthetic
            .parent()
            .map(|d| d.join(dpsynth::release::ACCURACY_FILE))
            .filter(|p| p.exists())
    });
    if let Some(p) = accuracy_path {
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let acc: dpsynth::model::accuracy::AccuracyReport = serde_json::from_str(&text)
            .with_context(|| format!("{}: not an accuracy.json", p.display()))?;
        rep.judge_with(&acc);
    }
    // A certificate beside the synthetic file states the guarantee in the report.
    let guarantee = synthetic
        .parent()
        .map(|d| d.join("certificate.json"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<Certificate>(&t).ok())
        .map(|c| c.guarantee.statement);
    if let Some(path) = report {
        let html = render_html(
            &rep,
            &inputs.labels,
            &inputs.real,
            &inputs.synthetic,
            &inputs.domain,
            guarantee.as_deref(),
        );
        write_atomic(path, html.as_bytes())?;
        errln!("{NOTICE}: wrote {}", path.display());
    }
    if let Some(path) = json_out {
        write_atomic(path, rep.to_json().as_bytes())?;
    }
    if print_json {
        outln!("{}", rep.to_json())?;
    } else if json_out.is_none() || report.is_none() {
        out!("{}", rep.summary_text())?;
    }
    Ok(())
}

pub fn run(cmd: EvaluateCmd) -> Result<()> {
    run_evaluation(
        &cmd.real,
        &cmd.synthetic,
        &cmd.schema,
        &EvalArgs {
            show_values: cmd.show_values,
            target: cmd.target.clone(),
            ..cmd.opts.clone()
        },
        cmd.report.as_deref(),
        None,
        cmd.json,
    )
}
