//! `dpsynth synth`, `dpsynth fit` and `dpsynth sample`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::json;

use dpsynth::data::{read_table_with, truncate_units, EncodedTable, ReadOptions};
use dpsynth::marginal::{Domain, InMemoryOracle};
use dpsynth::mechanism::{Fitted, MechanismSpec};
use dpsynth::model::SamplingMethod;
use dpsynth::privacy::{epsilon_for, require_csprng, secure_rng, Budget, PrivacyUnit, Rho, RhoSum};
use dpsynth::release::{
    fit_release, load_signing_key, release_spec, repeated_ids_note, resolve_unit, sample_to_file,
    sha256_file, spendable_note, spent_context, write_atomic, write_release, Counting, Governance,
    Ledger, Lifetime, MechanismChoice, ModelFile, OutputFormat, ReleaseContext, Reservation,
    SampleSpec, CERTIFICATE_FILE,
};
use dpsynth::schema::Schema;
use dpsynth::sql::{is_postgres_url, SqlOracle};

use super::budget::BudgetArgs;
use super::problems::{data_failure, ProblemArgs};
use super::progress::Bars;
use super::source::{open_sql, SourceArgs};

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
    /// Controlled rounding of each step's counts along the model's tree, with pairs of
    /// attributes balanced in tables of up to 262,144 records (closer to the model's
    /// marginals).
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

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum FormatArg {
    /// synthetic.csv
    Csv,
    /// synthetic.parquet (every column as text; the same values as the CSV)
    Parquet,
}

impl From<FormatArg> for OutputFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Csv => OutputFormat::Csv,
            FormatArg::Parquet => OutputFormat::Parquet,
        }
    }
}

/// What fit and synth share: the private input, the budget and the mechanism.
#[derive(Args, Debug)]
pub struct FitArgs {
    /// The private data: a CSV or Parquet file, or a PostgreSQL database
    /// (postgresql://USER@HOST:PORT/DB with --table or --query; the password from
    /// PGPASSWORD or ~/.pgpass).
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub source: SourceArgs,
    /// The public schema (TOML; JSON or a benchmark *-domain.json accepted).
    #[arg(long)]
    pub schema: PathBuf,
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Mechanism.
    #[arg(long, value_enum, default_value_t = MechanismArg::Aim)]
    pub mechanism: MechanismArg,
    /// AIM workload file (TOML/JSON list of cliques with weights); default: all 3-way marginals (2-way from 30 columns).
    #[arg(long)]
    pub workload: Option<PathBuf>,
    /// AIM: emphasise this outcome column (repeatable): the workload becomes every 3-way
    /// marginal containing a target (the AIM paper's target workload), so relations with
    /// the outcome get most of the budget. With --evaluate, TSTR predicts the first target.
    #[arg(long = "target", value_name = "COLUMN", conflicts_with = "workload")]
    pub targets: Vec<String>,
    /// AIM: cap on the model size in MB; candidates that would exceed it are skipped.
    #[arg(long, default_value_t = 80.0, value_parser = parse_model_mb)]
    pub max_model_size: f64,
    /// AIM: cap on the number of rounds (default 16 x number of columns).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// AIM: compute budget of the rounds' refits, in billions of calibrated cells (model
    /// cells times belief propagations); the rounds spend the privacy budget faster when
    /// it would run out. Bounds AIM's time at some cost in accuracy (README, "Speed").
    #[arg(long, value_name = "GCELLS", value_parser = parse_fit_work)]
    pub max_fit_work: Option<f64>,
    /// AIM: selections per refit of the model (default 3): up to K rounds, whose picks
    /// share no column, run on one model before it is refitted, each charged as before.
    /// 1 is the paper's AIM (slower at high budgets; README, "Speed").
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub selections_per_refit: Option<u32>,
    /// Protect each value of this `id` column (a patient, say) with all of its records,
    /// instead of each record. Needs --max-rows-per-unit. Overrides the schema's
    /// `privacy_unit`.
    #[arg(long, value_name = "COLUMN")]
    pub privacy_unit: Option<String>,
    /// With a privacy unit: use at most K records per unit, chosen at random (noise grows
    /// in proportion to K; `dpsynth schema check --data D --privacy-unit C` shows what each K
    /// drops). Overrides the schema's `max_rows_per_unit`.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_rows_per_unit: Option<u32>,
    /// Charge the run to this lifetime ledger (`dpsynth ledger init`). The whole budget is
    /// reserved before any noise is drawn; a run that does not fit is refused.
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// Sign the certificate with this Ed25519 private key (from `dpsynth keygen`).
    #[arg(long)]
    pub sign_with: Option<PathBuf>,
    /// Print a machine-readable summary (budget, rows, error bars) on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also report wall time per phase (on stderr, in --json, and on the progress bars).
    /// Timings depend on the private data (counting takes time in proportion to the true
    /// row count): they are private to the operator and are never written to a release.
    #[arg(long)]
    pub timings: bool,
    #[command(flatten)]
    pub problems: ProblemArgs,
}

/// Fit a DP model and sample a certified synthetic release.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  dpsynth synth --data admissions.csv --schema admissions.schema.toml --epsilon 1 --out release/
  dpsynth synth --data adult.csv --schema adult-domain.json --rho 0.05 --mechanism mst --rows 10000 --seed 7 --out r/")]
pub struct SynthCmd {
    #[command(flatten)]
    pub fit: FitArgs,
    /// Output directory (synthetic.csv or synthetic.parquet, model.json, certificate.json, README.txt).
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
    /// File format of the synthetic records (hashed in the certificate either way).
    #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
    pub format: FormatArg,
    /// Also evaluate the synthetic data against the real data, written beside the release
    /// as OUT.evaluation.html and OUT.evaluation.json: INTERNAL, NOT part of the release.
    #[arg(long)]
    pub evaluate: bool,
    #[command(flatten)]
    pub eval: super::evaluate::EvalArgs,
    #[command(flatten)]
    pub context: ContextArgs,
}

/// Who releases the data and why: written into the certificate, the data card and the
/// registry entry as given (public text; never derived from the data).
#[derive(Args, Debug, Clone, Default)]
pub struct ContextArgs {
    /// Who releases the data (an organisation or team), for the certificate and data card.
    #[arg(long, value_name = "TEXT")]
    pub curator: Option<String>,
    /// Why the data are released and what they are for, in a sentence.
    #[arg(long, value_name = "TEXT")]
    pub purpose: Option<String>,
    /// An opaque name for the input data set (e.g. admissions-2026-q3): never a hash of it.
    #[arg(long, value_name = "TEXT")]
    pub dataset_label: Option<String>,
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
    /// Seed of the error bars' simulation (post-processing only; the noise is never
    /// seedable). The same seed with `synth --seed` gives the same error bars for the same
    /// measurements.
    #[arg(long)]
    pub seed: Option<u64>,
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
    /// The file to write: CSV, or Parquet when its name ends in .parquet.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `--max-model-size`: checked here so a bad value is a usage error (exit 2) before any
/// file is read, by the library's rule.
pub(crate) fn parse_model_mb(s: &str) -> Result<f64, String> {
    dpsynth::release::check_max_model_size(super::budget::parse_f64(s)?)
        .map_err(|e| format!("`{s}`: {e}"))
}

/// `--max-fit-work`: as [`parse_model_mb`], by the library's rule.
pub(crate) fn parse_fit_work(s: &str) -> Result<f64, String> {
    dpsynth::release::check_max_fit_work(super::budget::parse_f64(s)?)
        .map_err(|e| format!("`{s}`: {e}"))
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
    /// Where the counts come from; truncated to the unit's K rows per unit when there is
    /// a unit.
    counts: Counts,
    unit: PrivacyUnit,
}

impl Loaded {
    /// Drops the rows held in memory (or closes the database session) once the model is
    /// fitted; only the schema and the unit stay.
    fn drop_rows(&mut self) {
        if let Some(empty) = EncodedTable::new(Vec::new(), Vec::new(), Vec::new()) {
            self.counts = Counts::Memory(empty);
        }
    }
}

/// The data behind a run's oracle: rows in memory (CSV, Parquet), or a database.
enum Counts {
    Memory(EncodedTable),
    Sql(Box<SqlOracle>),
}

impl Counts {
    fn domain(&self) -> Domain {
        match self {
            Counts::Memory(t) => InMemoryOracle::new(t).domain_owned(),
            Counts::Sql(o) => dpsynth::marginal::MarginalOracle::domain(o.as_ref()).clone(),
        }
    }
}

/// The privacy unit of a run: the flags, else the schema's (the library's rule).
pub(super) fn unit_for(
    schema: &Schema,
    column: Option<&str>,
    max_rows: Option<u32>,
) -> Result<PrivacyUnit> {
    Ok(resolve_unit(schema, column, max_rows)?)
}

fn load(args: &FitArgs) -> Result<Loaded> {
    let schema_text = std::fs::read_to_string(&args.schema)
        .with_context(|| format!("reading the schema {}", args.schema.display()))?;
    let schema = Schema::from_path_for_release(&args.schema).map_err(|e| anyhow::anyhow!("{e}"))?;
    let unit = unit_for(
        &schema,
        args.privacy_unit.as_deref(),
        args.max_rows_per_unit,
    )?;
    let opts = ReadOptions {
        unit_column: unit.unit_column().map(String::from),
        ..ReadOptions::default()
    };
    if let Some(url) = args.data.to_str().filter(|d| is_postgres_url(d)) {
        // Counting happens in the database; only counts come back (proofs/sql-source.md).
        let oracle = open_sql(url, &args.source, &schema, &opts, &unit, &args.problems)?;
        return Ok(Loaded {
            schema_text,
            schema,
            counts: Counts::Sql(Box::new(oracle)),
            unit,
        });
    }
    // Encoding problems name file, line and column (values on request): for the operator.
    let (table, report) = read_table_with(&args.data, &schema, &opts)
        .map_err(|e| data_failure(e, &args.data, &schema, &opts, &args.problems))?;
    let table = match &unit {
        PrivacyUnit::Record => {
            if let Some(note) = repeated_ids_note(
                &report.repeated_ids,
                &args.data.display().to_string(),
                &args.schema.display().to_string(),
            ) {
                errln!("{note}");
            }
            table
        }
        // Truncation to K rows per unit, chosen with the CSPRNG (proofs/privacy-unit.md).
        PrivacyUnit::Column { max_rows, .. } => {
            truncate_units(&table, *max_rows, &mut secure_rng()?)?
        }
    };
    Ok(Loaded {
        schema_text,
        schema,
        counts: Counts::Memory(table),
        unit,
    })
}

/// A run's charge to a lifetime ledger, between its reservation and its record.
struct Charge {
    ledger: Ledger,
    reservation: Reservation,
}

impl Charge {
    /// Reserves `budget` in the ledger of `args` (if any), before any noise. Returns the
    /// budget the run may spend (the ledger may grant the exact rest when decimal budgets
    /// do not add up in binary) and the charge to settle.
    fn reserve(
        args: &FitArgs,
        unit: &PrivacyUnit,
        budget: Budget,
        command: &str,
        mechanism: &str,
        out: &Path,
    ) -> Result<(Budget, Option<Charge>)> {
        let Some(path) = &args.ledger else {
            return Ok((budget, None));
        };
        let ledger = Ledger::new(path);
        let reservation =
            ledger.reserve(unit, budget, command, mechanism, &out.display().to_string())?;
        let granted = Budget::from_rho(Rho::new(reservation.rho)?, budget.delta);
        Ok((
            granted,
            Some(Charge {
                ledger,
                reservation,
            }),
        ))
    }

    /// Where the release leaves the ledger, for the certificate.
    fn lifetime(&self, rho: f64) -> Result<Lifetime> {
        let r = &self.reservation;
        // Rounded up from the exact sum, so the stated figure is never below the truth.
        let cumulative = RhoSum::of([r.spent_before, rho])?.upper();
        Ok(Lifetime {
            ledger_id: r.ledger_id.clone(),
            release: r.number,
            cumulative_rho: cumulative,
            budget_rho: r.budget_rho,
            cumulative_epsilon: epsilon_for(
                Rho::new(cumulative)?,
                dpsynth::privacy::Delta::new(r.delta)?,
            )?
            .value(),
            delta: r.delta,
            prior_releases: Some(r.prior.clone()),
        })
    }

    /// Settles the charge: the run's real rho and its output's hash, or (on failure) keeps
    /// the whole reservation spent and says so.
    fn settle(self, outcome: Result<(f64, PathBuf)>) -> Result<()> {
        let number = self.reservation.number;
        match outcome {
            Ok((rho, output)) => {
                let (sha, _) = sha256_file(&output)?;
                self.ledger.record(number, rho, &sha).with_context(|| {
                    format!(
                        "the output was written, but recording it in the ledger failed; its reservation (release {number}) stays counted in full"
                    )
                })?;
                Ok(())
            }
            Err(e) => {
                let marked = self.ledger.fail(number);
                let mut e = e.context(format!(
                    "the run failed after reserving rho {:.6e} in the lifetime ledger {} (release {number}); the reservation stays spent, because noise may have been drawn",
                    self.reservation.rho,
                    self.ledger.path().display()
                ));
                if let Err(m) = marked {
                    e = e.context(format!(
                        "(marking the failure in the ledger failed too: {m})"
                    ));
                }
                Err(e)
            }
        }
    }
}

fn spec(
    args: &FitArgs,
    schema: &Schema,
    oracle_domain: &Domain,
    unit: &PrivacyUnit,
) -> Result<MechanismSpec> {
    let workload = read_workload(args.workload.as_deref())?;
    let choice = choice(
        args.mechanism,
        &workload,
        &args.targets,
        args.max_model_size,
        args.rounds,
        args.max_fit_work,
        args.selections_per_refit,
    );
    // Automatic bins and rules: public knowledge from the schema.
    Ok(release_spec(&choice, schema, oracle_domain, unit)?)
}

/// A workload file's text and its name for messages.
pub(super) fn read_workload(path: Option<&Path>) -> Result<Option<(String, String)>> {
    path.map(|p| {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        Ok((text, p.display().to_string()))
    })
    .transpose()
}

/// The mechanism flags as the library takes them (shared by fit, synth and plan).
pub(super) fn choice<'a>(
    mechanism: MechanismArg,
    workload: &'a Option<(String, String)>,
    targets: &'a [String],
    max_model_size: f64,
    rounds: Option<usize>,
    max_fit_work: Option<f64>,
    selections_per_refit: Option<u32>,
) -> MechanismChoice<'a> {
    let mechanism = match mechanism {
        MechanismArg::Mst => {
            if !targets.is_empty() {
                eprintln!("note: MST has no workload, so --target does not change the model; it only names the TSTR column of --evaluate (use --mechanism aim to emphasise it)");
            }
            "mst"
        }
        MechanismArg::Aim => "aim",
    };
    MechanismChoice {
        mechanism,
        workload: workload.as_ref().map(|(t, n)| (t.as_str(), n.as_str())),
        max_model_size,
        rounds,
        max_fit_work,
        selections_per_refit: selections_per_refit.map(|k| k as usize),
        targets,
    }
}

/// Everything a run decides before it may draw noise: data read (and truncated), budget,
/// mechanism. Any problem here costs no budget.
fn prepare(args: &FitArgs) -> Result<(Loaded, Budget, MechanismSpec)> {
    // No release from a build whose noise is not from a CSPRNG (issue #13, item 6).
    require_csprng()?;
    let loaded = load(args)?;
    let budget = args.budget.budget()?;
    let spec = spec(args, &loaded.schema, &loaded.counts.domain(), &loaded.unit)?;
    if let Some(note) = spendable_note(&budget, &loaded.unit) {
        errln!("{note}");
    }
    Ok((loaded, budget, spec))
}

fn run_fit(
    args: &FitArgs,
    loaded: &Loaded,
    budget: Budget,
    spec: &MechanismSpec,
    accuracy_seed: u64,
) -> Result<(Fitted, serde_json::Value)> {
    let options = spec.options_json(&loaded.counts.domain());
    let bars = Bars::new(args.quiet, args.timings);
    let fitted = match &loaded.counts {
        Counts::Memory(table) => fit_release(
            &InMemoryOracle::new(table),
            budget,
            spec,
            &bars,
            accuracy_seed,
        )?,
        Counts::Sql(oracle) => fit_release(oracle.as_ref(), budget, spec, &bars, accuracy_seed)?,
    };
    Ok((fitted, options))
}

/// The release's fitness warnings (DP outputs only), for stderr.
fn print_warnings(fitted: &Fitted) {
    if let Some(acc) = &fitted.accuracy {
        for w in &acc.warnings {
            errln!("warning: {}", w.message);
        }
    }
}

/// The warnings and the headline error estimates, for `--json`.
fn accuracy_json(fitted: &Fitted) -> serde_json::Value {
    match &fitted.accuracy {
        Some(acc) => json!({
            "warnings": acc.warnings,
            "accuracy": {
                "total": acc.total,
                "summary": acc.summary,
                "confidence": acc.confidence,
            },
        }),
        None => json!({"warnings": [], "accuracy": null}),
    }
}

/// What the operator is told about timings: they depend on the private data.
const TIMINGS_LABEL: &str =
    "private, for the operator only: wall times depend on the private data; never share them";

/// Wall time per phase, only with `--timings` (issue #13 item 3), labelled private.
fn timings(
    args: &FitArgs,
    fitted: &Fitted,
    extra: &[(&str, f64)],
    total: f64,
) -> Option<serde_json::Value> {
    if !args.timings {
        return None;
    }
    let phases: Vec<_> = fitted
        .phases
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_secs_f64()))
        .chain(extra.iter().copied())
        .map(|(n, t)| json!({"phase": n, "seconds": t}))
        .collect();
    Some(json!({"label": TIMINGS_LABEL, "phases": phases, "total_seconds": total}))
}

/// The text form of [`timings`]: one line on stderr.
fn print_timings(t: &serde_json::Value) {
    let list: Vec<String> = t["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "{} {:.3} s",
                p["phase"].as_str().unwrap_or(""),
                p["seconds"].as_f64().unwrap_or(0.0)
            )
        })
        .collect();
    errln!(
        "timings ({TIMINGS_LABEL}): {}; total {:.3} s",
        list.join(", "),
        t["total_seconds"].as_f64().unwrap_or(0.0)
    );
}

pub fn run_synth(cmd: SynthCmd) -> Result<()> {
    let start = Instant::now();
    if cmd.out.exists() && !cmd.force {
        bail!(
            "{}: already exists; choose another --out or pass --force to replace it",
            cmd.out.display()
        );
    }
    if cmd.evaluate && cmd.fit.data.to_str().is_some_and(is_postgres_url) {
        bail!("--evaluate reads the real rows, which stay in the database on a postgresql:// source; evaluate against a CSV or Parquet extract with `dpsynth evaluate` instead");
    }
    let key = match &cmd.fit.sign_with {
        Some(p) => Some(load_signing_key(p)?),
        None => None,
    };
    // The id and start time, before any data is read (the start says nothing about them).
    let context = ReleaseContext::start(
        cmd.context.curator.clone(),
        cmd.context.purpose.clone(),
        cmd.context.dataset_label.clone(),
    )
    .map_err(anyhow::Error::msg)?;
    let (mut loaded, budget, mech) = prepare(&cmd.fit)?;
    let counting = match &loaded.counts {
        Counts::Memory(_) => Counting::Memory,
        Counts::Sql(_) => Counting::Postgresql,
    };
    let (budget, charge) = Charge::reserve(
        &cmd.fit,
        &loaded.unit,
        budget,
        "synth",
        mech.name(),
        &cmd.out,
    )?;
    let spec = SampleSpec {
        rows: cmd.rows,
        seed: cmd.seed.unwrap_or_else(rand::random),
        method: cmd.sampling.into(),
        format: cmd.format.into(),
    };
    let mut write_secs = 0.0;
    let outcome = (|| -> Result<_> {
        let (fitted, options) = run_fit(&cmd.fit, &loaded, budget, &mech, spec.seed)?;
        // Sampling needs only the model: free the private rows (or the database session)
        // first, so the input and the output never count toward the peak together.
        loaded.drop_rows();
        let lifetime = match &charge {
            Some(c) => Some(
                c.lifetime(fitted.spent)
                    .with_context(|| spent_context(&fitted))?,
            ),
            None => None,
        };
        let t = Instant::now();
        let gov = Governance {
            context: context.clone(),
            counting,
            lifetime,
        };
        let (dir, cert) = write_release(
            &cmd.out,
            cmd.force,
            &fitted,
            &loaded.schema_text,
            options,
            &spec,
            key.as_ref(),
            &gov,
        )
        .with_context(|| spent_context(&fitted))?;
        write_secs = t.elapsed().as_secs_f64();
        Ok((fitted, dir, cert))
    })();
    let (fitted, dir, cert) = match charge {
        Some(c) => {
            let settled = outcome
                .as_ref()
                .map(|(_, dir, cert)| (cert.guarantee.rho, dir.join(CERTIFICATE_FILE)))
                .map_err(|e| anyhow::anyhow!("{e:#}"));
            c.settle(settled)?;
            outcome?
        }
        None => outcome?,
    };
    let rows = cert.outputs.iter().find_map(|o| o.rows).unwrap_or(0);
    let _ = &loaded.schema;
    let timings = timings(
        &cmd.fit,
        &fitted,
        &[("sample and write", write_secs)],
        start.elapsed().as_secs_f64(),
    );
    if cmd.fit.json {
        let acc = accuracy_json(&fitted);
        let mut v = json!({
            "warnings": acc["warnings"], "accuracy": acc["accuracy"],
            "out": dir, "mechanism": fitted.mechanism, "rows": rows,
            "rho": cert.guarantee.rho, "budget_rho": cert.guarantee.budget_rho,
            "epsilon": cert.guarantee.epsilon, "delta": cert.guarantee.delta,
            "ledger_steps": cert.ledger.len(), "seed": spec.seed,
            "signed": cert.signature.is_some(),
            "privacy_unit": cert.guarantee.privacy_unit,
            "lifetime": cert.guarantee.lifetime,
            "release_id": context.id,
        });
        if let Some(t) = &timings {
            v["timings"] = t.clone();
        }
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        outln!(
            "wrote {} ({} synthetic rows, {})",
            dir.display(),
            rows,
            fitted.mechanism
        )?;
        outln!("{}", cert.guarantee.statement)?;
        if let (Some(l), Some(p)) = (&cert.guarantee.lifetime, &cmd.fit.ledger) {
            outln!(
                "charged to the lifetime ledger {} as release {}: rho {:.6e} of {:.6e} spent in all (epsilon {:.4} at delta {:e})",
                p.display(),
                l.release,
                l.cumulative_rho,
                l.budget_rho,
                l.cumulative_epsilon,
                l.delta
            )?;
        }
        if let Some(s) = &cert.signature {
            outln!("signed by {}", s.fingerprint)?;
        }
    }
    if let (false, Some(t)) = (cmd.fit.json, &timings) {
        print_timings(t);
    }
    print_warnings(&fitted);
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
            &dir.join(OutputFormat::from(cmd.format).data_file()),
            &cmd.fit.schema,
            &super::evaluate::EvalArgs {
                show_values: cmd.fit.problems.show_values,
                target: cmd.fit.targets.first().cloned(),
                ..cmd.eval.clone()
            },
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
    let start = Instant::now();
    if cmd.out.exists() && !cmd.force {
        bail!(
            "{}: already exists; choose another --out or pass --force to replace it",
            cmd.out.display()
        );
    }
    let (loaded, budget, mech) = prepare(&cmd.fit)?;
    let (budget, charge) =
        Charge::reserve(&cmd.fit, &loaded.unit, budget, "fit", mech.name(), &cmd.out)?;
    let outcome = (|| -> Result<_> {
        let (fitted, _options) = run_fit(
            &cmd.fit,
            &loaded,
            budget,
            &mech,
            cmd.seed.unwrap_or_else(rand::random),
        )?;
        let context = spent_context(&fitted);
        let model = ModelFile::new(fitted, &loaded.schema_text);
        write_atomic(&cmd.out, &model.to_json()?).context(context)?;
        Ok(model)
    })();
    let model = match charge {
        Some(c) => {
            let settled = outcome
                .as_ref()
                .map(|m| (m.fitted.spent, cmd.out.clone()))
                .map_err(|e| anyhow::anyhow!("{e:#}"));
            c.settle(settled)?;
            outcome?
        }
        None => outcome?,
    };
    let spent = model.fitted.spent;
    let timings = timings(&cmd.fit, &model.fitted, &[], start.elapsed().as_secs_f64());
    if cmd.fit.json {
        let acc = accuracy_json(&model.fitted);
        let mut summary = json!({"out": cmd.out, "mechanism": model.fitted.mechanism, "rho": spent,
               "warnings": acc["warnings"], "accuracy": acc["accuracy"],
               "privacy_unit": model.fitted.unit});
        if let Some(t) = &timings {
            summary["timings"] = t.clone();
        }
        outln!("{summary}")?;
    } else {
        outln!(
            "wrote {} ({}, rho {:.6} spent; privacy unit: {})",
            cmd.out.display(),
            model.fitted.mechanism,
            spent,
            model.fitted.unit
        )?;
    }
    if let (false, Some(t)) = (cmd.fit.json, &timings) {
        print_timings(t);
    }
    print_warnings(&model.fitted);
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
    let format = if dpsynth::data::is_parquet(&cmd.out) {
        OutputFormat::Parquet
    } else {
        OutputFormat::Csv
    };
    let spec = SampleSpec {
        rows: cmd.rows,
        seed: cmd.seed.unwrap_or_else(rand::random),
        method: cmd.sampling.into(),
        format,
    };
    let rows = sample_to_file(&model, &spec, Path::new(&cmd.out))?;
    outln!(
        "wrote {} ({rows} rows, seed {})",
        cmd.out.display(),
        spec.seed
    )?;
    Ok(())
}
