//! `dpsynth synth`, `dpsynth fit` and `dpsynth sample`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::json;

use dpsynth::data::{read_csv, EncodedTable};
use dpsynth::marginal::InMemoryOracle;
use dpsynth::mechanism::{fit, AimOptions, Fitted, MechanismSpec, MstOptions, Workload};
use dpsynth::model::SamplingMethod;
use dpsynth::release::{
    load_signing_key, sample_to_csv, write_atomic, write_release, ModelFile, SampleSpec,
};
use dpsynth::schema::Schema;

use super::budget::BudgetArgs;
use super::progress::Bars;

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum MechanismArg {
    /// Adaptive selection over a workload (McKenna et al. 2022): best fidelity.
    Aim,
    /// Maximum spanning tree of pairs (McKenna et al. 2021): fastest.
    Mst,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum SamplingArg {
    /// Forward sampling along the junction tree.
    Forward,
    /// Deterministic rounding of clique marginals (closer to the model's marginals).
    Rounding,
}

impl From<SamplingArg> for SamplingMethod {
    fn from(s: SamplingArg) -> Self {
        match s {
            SamplingArg::Forward => SamplingMethod::Forward,
            SamplingArg::Rounding => SamplingMethod::Rounding,
        }
    }
}

/// What fit and synth share: the private input, the budget and the mechanism.
#[derive(Args, Debug)]
pub struct FitArgs {
    /// The private CSV.
    #[arg(long)]
    pub data: PathBuf,
    /// The public schema (TOML; JSON or a benchmark *-domain.json accepted).
    #[arg(long)]
    pub schema: PathBuf,
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Mechanism.
    #[arg(long, value_enum, default_value_t = MechanismArg::Aim)]
    pub mechanism: MechanismArg,
    /// AIM workload file (TOML/JSON list of cliques with weights); default: all 3-way marginals.
    #[arg(long)]
    pub workload: Option<PathBuf>,
    /// AIM: cap on the model size in MB; candidates that would exceed it are skipped.
    #[arg(long, default_value_t = 80.0)]
    pub max_model_size: f64,
    /// AIM: cap on the number of rounds (default 16 x number of columns).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Sign the certificate with this Ed25519 private key (from `dpsynth keygen`).
    #[arg(long)]
    pub sign_with: Option<PathBuf>,
    /// Print a machine-readable summary (budget, rows, time per phase) on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Fit a DP model and sample a certified synthetic release.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  dpsynth synth --data admissions.csv --schema admissions.schema.toml --epsilon 1 --out release/
  dpsynth synth --data adult.csv --schema adult-domain.json --rho 0.05 --mechanism mst --rows 10000 --seed 7 --out r/")]
pub struct SynthCmd {
    #[command(flatten)]
    pub fit: FitArgs,
    /// Output directory (synthetic.csv, model.json, certificate.json, README.txt).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Number of synthetic rows (default: the model's noisy estimate of the total).
    #[arg(long, value_parser = parse_rows)]
    pub rows: Option<usize>,
    /// Seed of the sampling step (post-processing only; noise is never seedable).
    #[arg(long)]
    pub seed: Option<u64>,
    /// How records are drawn from the model.
    #[arg(long, value_enum, default_value_t = SamplingArg::Rounding)]
    pub sampling: SamplingArg,
    /// Also evaluate the synthetic data against the real data, written beside the release
    /// as OUT.evaluation.html and OUT.evaluation.json: INTERNAL, NOT part of the release.
    #[arg(long)]
    pub evaluate: bool,
    #[command(flatten)]
    pub eval: super::evaluate::EvalArgs,
}

/// Fit the DP model alone and write it as a shareable model file.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  dpsynth fit --data admissions.csv --schema admissions.schema.toml --epsilon 1 --out model.json"
)]
pub struct FitCmd {
    #[command(flatten)]
    pub fit: FitArgs,
    /// The model file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing model file.
    #[arg(long)]
    pub force: bool,
}

/// Draw records from a model file; needs no access to the private data.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  dpsynth sample --model release/model.json --rows 100000 --seed 1 --out more.csv"
)]
pub struct SampleCmd {
    /// A model file written by `dpsynth fit` or `dpsynth synth`.
    #[arg(long)]
    pub model: PathBuf,
    /// Number of rows (default: the model's noisy estimate of the total).
    #[arg(long, value_parser = parse_rows)]
    pub rows: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, value_enum, default_value_t = SamplingArg::Rounding)]
    pub sampling: SamplingArg,
    /// The CSV to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

fn parse_rows(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("--rows must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number of rows")),
    }
}

struct Loaded {
    schema_text: String,
    schema: Schema,
    table: EncodedTable,
}

fn load(args: &FitArgs) -> Result<Loaded> {
    let schema_text = std::fs::read_to_string(&args.schema)
        .with_context(|| format!("reading the schema {}", args.schema.display()))?;
    let schema = Schema::from_path_for_release(&args.schema).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Encoding problems name file, line, column and value: for the trusted operator only.
    let (table, _report) = read_csv(&args.data, &schema).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Loaded {
        schema_text,
        schema,
        table,
    })
}

fn spec(args: &FitArgs, table: &EncodedTable) -> Result<MechanismSpec> {
    let oracle_domain = InMemoryOracle::new(table).domain_owned();
    Ok(match args.mechanism {
        MechanismArg::Mst => MechanismSpec::Mst(MstOptions::default()),
        MechanismArg::Aim => {
            if !(args.max_model_size.is_finite() && args.max_model_size > 0.0) {
                bail!("--max-model-size must be a positive number of MB");
            }
            let workload = match &args.workload {
                Some(p) => {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    Workload::from_text(&text, &p.display().to_string(), &oracle_domain)
                        .map_err(anyhow::Error::msg)?
                }
                None => Workload::all_k_way(oracle_domain.len(), 3),
            };
            let opts = AimOptions {
                rounds: args.rounds,
                max_model_size_mb: args.max_model_size,
                ..AimOptions::default()
            };
            MechanismSpec::Aim(opts, workload)
        }
    })
}

fn run_fit(args: &FitArgs, loaded: &Loaded) -> Result<(Fitted, serde_json::Value)> {
    let budget = args.budget.budget()?;
    let oracle = InMemoryOracle::new(&loaded.table);
    let spec = spec(args, &loaded.table)?;
    let options = spec.options_json(&oracle.domain_owned());
    let bars = Bars::new(args.quiet);
    let fitted = fit(&oracle, budget, &spec, &bars)?;
    Ok((fitted, options))
}

fn phases_json(fitted: &Fitted) -> serde_json::Value {
    json!(fitted
        .phases
        .iter()
        .map(|(n, d)| json!({"phase": n, "seconds": d.as_secs_f64()}))
        .collect::<Vec<_>>())
}

pub fn run_synth(cmd: SynthCmd) -> Result<()> {
    let start = Instant::now();
    if cmd.out.exists() && !cmd.force {
        bail!(
            "{}: already exists; choose another --out or pass --force to replace it",
            cmd.out.display()
        );
    }
    let key = match &cmd.fit.sign_with {
        Some(p) => Some(load_signing_key(p)?),
        None => None,
    };
    let loaded = load(&cmd.fit)?;
    let (fitted, options) = run_fit(&cmd.fit, &loaded)?;
    let spec = SampleSpec {
        rows: cmd.rows,
        seed: cmd.seed.unwrap_or_else(rand::random),
        method: cmd.sampling.into(),
    };
    let t = Instant::now();
    let (dir, cert) = write_release(
        &cmd.out,
        cmd.force,
        &fitted,
        &loaded.schema_text,
        options,
        &spec,
        key.as_ref(),
    )?;
    let write_secs = t.elapsed().as_secs_f64();
    let rows = cert.outputs.iter().find_map(|o| o.rows).unwrap_or(0);
    let _ = &loaded.schema;
    if cmd.fit.json {
        let mut phases = phases_json(&fitted);
        if let Some(a) = phases.as_array_mut() {
            a.push(json!({"phase": "sample and write", "seconds": write_secs}));
        }
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "out": dir, "mechanism": fitted.mechanism, "rows": rows,
                "rho": cert.guarantee.rho, "budget_rho": cert.guarantee.budget_rho,
                "epsilon": cert.guarantee.epsilon, "delta": cert.guarantee.delta,
                "ledger_steps": cert.ledger.len(), "seed": spec.seed,
                "signed": cert.signature.is_some(),
                "phases": phases, "total_seconds": start.elapsed().as_secs_f64(),
            }))?
        )?;
    } else {
        outln!(
            "wrote {} ({} synthetic rows, {})",
            dir.display(),
            rows,
            fitted.mechanism
        )?;
        outln!("{}", cert.guarantee.statement)?;
        if let Some(s) = &cert.signature {
            outln!("signed by {}", s.fingerprint)?;
        }
    }
    if cmd.evaluate {
        let base = cmd
            .out
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let html = PathBuf::from(format!("{base}.evaluation.html"));
        let json_path = PathBuf::from(format!("{base}.evaluation.json"));
        super::evaluate::run_evaluation(
            &cmd.fit.data,
            &dir.join(dpsynth::release::DATA_FILE),
            &cmd.fit.schema,
            &cmd.eval,
            Some(&html),
            Some(&json_path),
            false,
        )?;
        errln!(
            "evaluation (INTERNAL, not part of the release): {} and {}",
            html.display(),
            json_path.display()
        );
    }
    Ok(())
}

pub fn run_fit_cmd(cmd: FitCmd) -> Result<()> {
    if cmd.out.exists() && !cmd.force {
        bail!(
            "{}: already exists; choose another --out or pass --force to replace it",
            cmd.out.display()
        );
    }
    let loaded = load(&cmd.fit)?;
    let (fitted, _options) = run_fit(&cmd.fit, &loaded)?;
    let model = ModelFile::new(fitted, &loaded.schema_text);
    write_atomic(&cmd.out, &model.to_json()?)?;
    let spent = model.fitted.spent;
    if cmd.fit.json {
        outln!(
            "{}",
            json!({"out": cmd.out, "mechanism": model.fitted.mechanism, "rho": spent,
                   "phases": phases_json(&model.fitted)})
        )?;
    } else {
        outln!(
            "wrote {} ({}, rho {:.6} spent)",
            cmd.out.display(),
            model.fitted.mechanism,
            spent
        )?;
    }
    Ok(())
}

pub fn run_sample(cmd: SampleCmd) -> Result<()> {
    if cmd.out.exists() && !cmd.force {
        bail!(
            "{}: already exists; choose another --out or pass --force to replace it",
            cmd.out.display()
        );
    }
    let model = ModelFile::load(&cmd.model)?;
    let spec = SampleSpec {
        rows: cmd.rows,
        seed: cmd.seed.unwrap_or_else(rand::random),
        method: cmd.sampling.into(),
    };
    let rows = sample_to_csv(&model, &spec, Path::new(&cmd.out))?;
    outln!(
        "wrote {} ({rows} rows, seed {})",
        cmd.out.display(),
        spec.seed
    )?;
    Ok(())
}
