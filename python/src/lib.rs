//! `dpsynth._dpsynth`: the native half of the Python package, a thin shell over the dpsynth
//! library like the command line. Every decision (schema, privacy unit, budget, mechanism,
//! encoding, release, verification) is the library's; this file moves Arrow data across the
//! PyCapsule interface, releases the GIL while the library works, forwards progress to a
//! Python callback and turns library errors into Python exceptions with the same messages.
//! The pure-Python `dpsynth` package around it picks inputs apart (pandas, polars, pyarrow,
//! paths, Spark) and shapes results.

use std::path::{Path, PathBuf};

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

use dpsynth::data::{
    check_header, check_table_grouped, describe, draft_from_arrow, read_arrow_with,
    read_table_with, synthetic_batch, truncate_units, DataError, EncodeReport, EncodedTable,
    ReadOptions,
};
use dpsynth::eval::{evaluate as eval_tables, EvalOptions, NOTICE};
use dpsynth::marginal::{Domain, InMemoryOracle, MarginalOracle};
use dpsynth::mechanism::{Fitted, Progress};
use dpsynth::model::SamplingMethod;
use dpsynth::privacy::{require_csprng, secure_rng, Budget, Delta, Epsilon, PrivacyUnit, Rho};
use dpsynth::release::{
    fit_release, load_public_key, load_signing_key, release_spec, repeated_ids_note, resolve_unit,
    sample_codes, spendable_note, verify_release, write_atomic, write_release, Counting,
    Governance, MechanismChoice, ModelFile, OutputFormat, ReleaseContext, SampleSpec,
};
use dpsynth::schema::{draft_from_csv, ColumnKind, Schema};
use dpsynth::sql::{
    compile as compile_sql, validate as validate_sql, Relation, SparkSql, SqlError, SqlOracle,
    SqlRunner, SqlType, SqlValue,
};

create_exception!(
    _dpsynth,
    DpsynthError,
    PyException,
    "A dpsynth error: bad input, schema, budget or release. The message is the command line's."
);

fn err(e: impl std::fmt::Display) -> PyErr {
    DpsynthError::new_err(e.to_string())
}

// ---------------------------------------------------------------------------------------
// Arrow across the PyCapsule interface.

/// Reads an object with `__arrow_c_stream__` (pyarrow Table or RecordBatchReader, polars,
/// pandas >= 2.2 via pyarrow, DuckDB, ...) as an Arrow stream. Nothing is copied here.
fn stream_of(obj: &Bound<'_, PyAny>) -> PyResult<RecordBatchStreamReader> {
    let capsule = obj.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let ptr = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    // SAFETY: the capsule holds an FFI_ArrowArrayStream (its name says so, per the Arrow
    // PyCapsule interface); from_raw moves it out and leaves a released stream behind, so the
    // capsule's destructor does not release it twice.
    let stream = unsafe { FFI_ArrowArrayStream::from_raw(ptr.as_ptr().cast()) };
    RecordBatchStreamReader::try_new(stream).map_err(err)
}

/// A table of synthetic records leaving Rust: any Arrow consumer takes it through
/// `__arrow_c_stream__` (`pyarrow.table(t)`, `polars.from_arrow(t)`).
#[pyclass(module = "dpsynth._dpsynth", name = "ArrowTable")]
struct ArrowTable {
    batch: Option<RecordBatch>,
}

#[pymethods]
impl ArrowTable {
    /// The Arrow PyCapsule stream interface (one use: the stream moves out).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &mut self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the table is offered in its own types
        let batch = self
            .batch
            .take()
            .ok_or_else(|| err("this synthetic table was already consumed"))?;
        let schema = batch.schema();
        let reader: Box<dyn RecordBatchReader + Send> =
            Box::new(RecordBatchIterator::new(vec![Ok(batch)], schema));
        let stream = FFI_ArrowArrayStream::new(reader);
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }
}

// ---------------------------------------------------------------------------------------
// Progress: the library's phases, forwarded to a Python callable.

/// Calls `callback(event, phase_or_message, steps)` with the GIL taken for the call only;
/// events are "start", "inc", "message", "finish". Errors in the callback are ignored (a
/// progress bar must never stop a release).
struct PyProgress {
    callback: Option<Py<PyAny>>,
}

impl PyProgress {
    fn call(&self, event: &str, text: &str, steps: usize) {
        if let Some(cb) = &self.callback {
            Python::attach(|py| {
                let _ = cb.call1(py, (event, text, steps));
            });
        }
    }
}

impl Progress for PyProgress {
    fn start(&self, phase: &str, steps: usize) {
        self.call("start", phase, steps);
    }
    fn inc(&self) {
        self.call("inc", "", 0);
    }
    fn message(&self, msg: &str) {
        self.call("message", msg, 0);
    }
    fn finish(&self) {
        self.call("finish", "", 0);
    }
}

// ---------------------------------------------------------------------------------------
// Budget.

fn budget_of(epsilon: Option<f64>, delta: f64, rho: Option<f64>) -> PyResult<Budget> {
    let value = |e: dpsynth::privacy::PrivacyError| PyValueError::new_err(e.to_string());
    let delta = Delta::new(delta).map_err(value)?;
    match (epsilon, rho) {
        (Some(_), Some(_)) => Err(PyValueError::new_err(
            "give either epsilon (with delta) or rho, not both",
        )),
        (_, Some(r)) => Ok(Budget::from_rho(Rho::new(r).map_err(value)?, delta)),
        (Some(e), None) => {
            Budget::from_epsilon_delta(Epsilon::new(e).map_err(value)?, delta).map_err(value)
        }
        (None, None) => Err(PyValueError::new_err(
            "give a budget: epsilon (with delta) or rho",
        )),
    }
}

/// What a budget means: rho, and the (epsilon, delta) it implies, without touching data.
#[pyfunction]
#[pyo3(signature = (epsilon=None, delta=1e-9, rho=None))]
fn budget<'py>(
    py: Python<'py>,
    epsilon: Option<f64>,
    delta: f64,
    rho: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let b = budget_of(epsilon, delta, rho)?;
    let eps = b
        .epsilon()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let d = PyDict::new(py);
    d.set_item("rho", b.rho.value())?;
    d.set_item("epsilon", eps.value())?;
    d.set_item("delta", b.delta.value())?;
    d.set_item(
        "conversion",
        "tight zCDP to approximate DP (Canonne-Kamath-Steinke 2020, opendp)",
    )?;
    Ok(d)
}

// ---------------------------------------------------------------------------------------
// Reading private data.

/// Where the private rows come from: a file path (CSV or Parquet), or an Arrow stream object.
fn read_table(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    source_name: &str,
    schema: &Schema,
    opts: &ReadOptions,
) -> PyResult<(EncodedTable, EncodeReport)> {
    if let Ok(path) = data.extract::<PathBuf>() {
        return py
            .detach(|| {
                read_table_with(&path, schema, opts)
                    .map_err(|e| data_failure(e, &path, schema, opts))
            })
            .map_err(err);
    }
    let reader = stream_of(data)?;
    let fields = reader.schema();
    py.detach(move || read_arrow_with(&fields, reader, source_name, schema, opts))
        .map_err(|e| err(describe(&e, false)))
}

/// A failed file read in the CLI's words (`dpsynth fit` without `--show-values`): every
/// distinct problem of the file, grouped with counts, values hidden, then the summary line.
/// PRIVATE to the operator, like the CLI's stderr.
fn data_failure(e: DataError, path: &Path, schema: &Schema, opts: &ReadOptions) -> String {
    if e.line().is_none() {
        return describe(&e, false);
    }
    let report = check_table_grouped(path, schema, opts);
    if report.is_empty() {
        return describe(&e, false);
    }
    let (mut lines, n) = report.render(false, 20);
    lines.push(format!(
        "{}: {n} problem(s) in the data; fix them (or the schema) and run again",
        path.display()
    ));
    lines.join("\n")
}

// ---------------------------------------------------------------------------------------
// SQL sources run by Python (a Spark DataFrame): the library compiles the schema to SQL, the
// Python object runs it in its engine and hands back the result rows (counts, grouped
// problems), never a row of the data.

/// A Python object with `__dpsynth_sql__` (see `dpsynth/spark.py`): `description` (how
/// messages name it), `view` (the relation to read), `columns` (name, type) and
/// `query(sql)` returning a list of tuples of None, int or str.
fn is_sql_source(data: &Bound<'_, PyAny>) -> bool {
    data.hasattr("__dpsynth_sql__").unwrap_or(false)
}

struct PySqlRunner {
    source: Py<PyAny>,
    name: String,
}

impl SqlRunner for PySqlRunner {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn query(&mut self, sql: &str) -> Result<Vec<Vec<SqlValue>>, SqlError> {
        let failed = |e: PyErr| SqlError::Query {
            target: self.name.clone(),
            message: e.to_string(),
        };
        Python::attach(|py| {
            let rows = self
                .source
                .call_method1(py, "query", (sql,))
                .map_err(failed)?;
            let mut out = Vec::new();
            for row in rows.bind(py).try_iter().map_err(failed)? {
                let mut cells = Vec::new();
                for cell in row.map_err(failed)?.try_iter().map_err(failed)? {
                    let cell = cell.map_err(failed)?;
                    cells.push(if cell.is_none() {
                        SqlValue::Null
                    } else if let Ok(v) = cell.extract::<i64>() {
                        SqlValue::Int(v)
                    } else {
                        SqlValue::Text(cell.str().map_err(failed)?.to_string())
                    });
                }
                out.push(cells);
            }
            Ok(out)
        })
    }

    /// `materialize(sql)` of the Python object, when it has one (Spark: a persisted view of
    /// the aggregated codes); its name, or None.
    fn materialize(&mut self, sql: &str) -> Result<Option<String>, SqlError> {
        let failed = |e: PyErr| SqlError::Query {
            target: self.name.clone(),
            message: e.to_string(),
        };
        Python::attach(|py| {
            let source = self.source.bind(py);
            if !source.hasattr("materialize").map_err(failed)? {
                return Ok(None);
            }
            let name = source.call_method1("materialize", (sql,)).map_err(failed)?;
            if name.is_none() {
                return Ok(None);
            }
            name.extract::<String>().map(Some).map_err(failed)
        })
    }
}

fn sql_type(name: &str) -> SqlType {
    match name {
        "text" => SqlType::Text,
        "integer" => SqlType::Integer,
        "float" => SqlType::Float,
        "decimal" => SqlType::Decimal,
        "boolean" => SqlType::Boolean,
        "date" => SqlType::Date,
        "timestamp" => SqlType::Timestamp,
        _ => SqlType::Other,
    }
}

/// The counting oracle over a SQL source, after its columns and every cell were checked in
/// the engine (problems grouped with counts, values hidden, as the CLI's database source).
/// Nothing is spent here.
fn sql_oracle(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    schema: &Schema,
    opts: &ReadOptions,
    unit: &PrivacyUnit,
) -> PyResult<SqlOracle> {
    let name: String = data.getattr("description")?.extract()?;
    let view: String = data.getattr("view")?.extract()?;
    let columns: Vec<(String, String)> = data.getattr("columns")?.extract()?;
    let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
    let problems = check_header(&name, schema, opts, &names);
    if !problems.is_empty() {
        let mut lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        if lines.len() > 1 {
            lines.push(format!(
                "{} problem(s) found in the data source; nothing was spent",
                problems.len()
            ));
        }
        return Err(err(lines.join("\n")));
    }
    let typed: Vec<(String, SqlType)> = columns
        .iter()
        .map(|(n, t)| (n.clone(), sql_type(t)))
        .collect();
    let compiled = compile_sql(
        &SparkSql,
        schema,
        &Relation::Table(view),
        &typed,
        unit.unit_column(),
    )
    .map_err(err)?;
    let mut runner = PySqlRunner {
        source: data.clone().unbind(),
        name: name.clone(),
    };
    let report = py
        .detach(|| validate_sql(&mut runner, &compiled, false))
        .map_err(err)?;
    if !report.is_empty() {
        let (mut lines, n) = report.render(false, 20);
        lines.push(format!(
            "{name}: {n} problem(s) in the data; fix them (or the schema) and run again; nothing was spent"
        ));
        return Err(err(lines.join("\n")));
    }
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    SqlOracle::over(Box::new(runner), &SparkSql, &compiled, domain, unit).map_err(err)
}

/// Where a fit counts: rows encoded in memory, or a SQL engine.
enum Counts {
    Memory(EncodedTable),
    Sql(SqlOracle),
}

// ---------------------------------------------------------------------------------------
// The fitted model.

/// A fitted DP model: noisy measurements and the graphical model fitted to them, with its
/// ledger, schema and privacy unit. Everything in it is a DP output or public, so it may be
/// shared; sampling from it needs no private data.
#[pyclass(module = "dpsynth._dpsynth", name = "Model", frozen)]
struct Model {
    file: ModelFile,
    /// The mechanism's options as the certificate records them (None for a loaded model
    /// file, which the library cannot certify again).
    options: Option<serde_json::Value>,
    /// When the fit started (before any data was read) and where counting ran: the
    /// certificate's governance blocks.
    started: String,
    counting: Counting,
}

fn sampling(method: &str) -> PyResult<SamplingMethod> {
    match method {
        "rounding" => Ok(SamplingMethod::Rounding),
        "forward" => Ok(SamplingMethod::Forward),
        other => Err(PyValueError::new_err(format!(
            "unknown sampling {other:?}: use \"rounding\" (closer to the model's marginals) or \"forward\""
        ))),
    }
}

fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    let json = py.import("json")?;
    json.call_method1("loads", (v.to_string(),))
}

#[pymethods]
impl Model {
    /// "aim" or "mst".
    #[getter]
    fn mechanism(&self) -> &str {
        &self.file.fitted.mechanism
    }

    /// The rho-zCDP the fit spent (the ledger's sum).
    #[getter]
    fn rho(&self) -> f64 {
        self.file.fitted.spent
    }

    /// The (epsilon, delta) the spent rho implies (tight conversion).
    #[getter]
    fn epsilon(&self) -> PyResult<f64> {
        let f = &self.file.fitted;
        let rho = Rho::new(f.spent).map_err(err)?;
        Ok(dpsynth::privacy::epsilon_for(rho, f.budget.delta)
            .map_err(err)?
            .value())
    }

    #[getter]
    fn delta(&self) -> f64 {
        self.file.fitted.budget.delta.value()
    }

    /// Whose privacy the model protects, in words ("record", or the unit column and K).
    #[getter]
    fn privacy_unit(&self) -> String {
        self.file.fitted.unit.to_string()
    }

    /// The model's noisy estimate of the number of records (the default sample size).
    #[getter]
    fn default_rows(&self) -> usize {
        self.file.fitted.default_rows()
    }

    /// The privacy ledger: one dict per measurement or selection (mechanism, what, sigma or
    /// scale, rho).
    #[getter]
    fn ledger<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(
            py,
            &serde_json::to_value(&self.file.fitted.ledger).map_err(err)?,
        )
    }

    /// Fitness warnings and error bars from the DP outputs (accuracy.json of a release), or
    /// None for a model without them.
    #[getter]
    fn accuracy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.file.fitted.accuracy {
            Some(a) => json_to_py(py, &serde_json::from_str(&a.to_json()).map_err(err)?),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// The warnings alone (texts), empty when the release looks fit for use.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        match &self.file.fitted.accuracy {
            Some(a) => a.warnings.iter().map(|w| w.message.clone()).collect(),
            None => Vec::new(),
        }
    }

    /// The public schema the model was fitted with (its text).
    #[getter]
    fn schema_text(&self) -> &str {
        &self.file.schema_text
    }

    /// Draws `rows` synthetic records (default: the model's noisy total) as an Arrow table,
    /// decoded exactly as a release's synthetic.csv with the same seed. Post-processing only.
    #[pyo3(signature = (rows=None, seed=None, method="rounding"))]
    fn sample(
        &self,
        py: Python<'_>,
        rows: Option<usize>,
        seed: Option<u64>,
        method: &str,
    ) -> PyResult<(ArrowTable, u64)> {
        if rows == Some(0) {
            return Err(PyValueError::new_err("rows must be at least 1"));
        }
        let method = sampling(method)?;
        let seed = seed.unwrap_or_else(rand::random);
        let spec = SampleSpec {
            rows,
            seed,
            method,
            format: OutputFormat::Csv,
        };
        let file = &self.file;
        let batch = py
            .detach(|| -> Result<_, String> {
                let (decoder, columns) = sample_codes(file, &spec).map_err(|e| e.to_string())?;
                synthetic_batch(&decoder, &columns, seed).map_err(|e| e.to_string())
            })
            .map_err(err)?;
        Ok((ArrowTable { batch: Some(batch) }, seed))
    }

    /// Writes the certified release directory (synthetic.csv, model.json, accuracy.json,
    /// certificate.json, README.txt) exactly as `dpsynth synth` does, atomically. Returns the
    /// certificate.
    #[pyo3(signature = (out, rows=None, seed=None, method="rounding", sign_with=None, force=false,
                        curator=None, purpose=None, dataset_label=None))]
    #[allow(clippy::too_many_arguments)]
    fn release<'py>(
        &self,
        py: Python<'py>,
        out: PathBuf,
        rows: Option<usize>,
        seed: Option<u64>,
        method: &str,
        sign_with: Option<PathBuf>,
        force: bool,
        curator: Option<String>,
        purpose: Option<String>,
        dataset_label: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(options) = &self.options else {
            return Err(err(
                "a model loaded from a file can be sampled but not certified again; release from the Synthesizer that fitted it (or use the release that holds the model file)",
            ));
        };
        if rows == Some(0) {
            return Err(PyValueError::new_err("rows must be at least 1"));
        }
        if out.exists() && !force {
            return Err(err(format!(
                "{}: already exists; choose another out or pass force=True to replace it",
                out.display()
            )));
        }
        let key = match &sign_with {
            Some(p) => Some(load_signing_key(p).map_err(err)?),
            None => None,
        };
        let spec = SampleSpec {
            rows,
            seed: seed.unwrap_or_else(rand::random),
            method: sampling(method)?,
            format: OutputFormat::Csv,
        };
        // A new release id each time; the start time is the fit's, taken before the data.
        let mut context = ReleaseContext::start(curator, purpose, dataset_label).map_err(err)?;
        context.started = self.started.clone();
        let gov = Governance {
            context,
            counting: self.counting,
            lifetime: None,
        };
        let (_, cert) = py
            .detach(|| {
                write_release(
                    &out,
                    force,
                    &self.file.fitted,
                    &self.file.schema_text,
                    options.clone(),
                    &spec,
                    key.as_ref(),
                    &gov,
                )
            })
            .map_err(err)?;
        json_to_py(py, &serde_json::to_value(&cert).map_err(err)?)
    }

    /// Writes the model file (as `dpsynth fit --out`), atomically; `dpsynth sample --model`
    /// and `dpsynth.load_model` read it.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        write_atomic(&path, &self.file.to_json().map_err(err)?).map_err(err)
    }
}

/// Loads a model file written by `dpsynth fit`, `dpsynth synth` or `Model.save`.
#[pyfunction]
fn load_model(path: PathBuf) -> PyResult<Model> {
    Ok(Model {
        file: ModelFile::load(&path).map_err(err)?,
        options: None,
        started: String::new(),
        counting: Counting::Memory,
    })
}

/// Fits a DP model: the library's pipeline as `dpsynth fit` runs it (schema checked for
/// release, privacy unit resolved, data read and encoded, truncated to K rows per unit with
/// the CSPRNG, mechanism run with the GIL released, error bars). Returns the model and the
/// operator's private notes.
#[pyfunction]
#[pyo3(signature = (schema, data, source_name, *, epsilon=None, delta=1e-9, rho=None,
                    mechanism="aim", privacy_unit=None, max_rows_per_unit=None, workload=None,
                    max_model_size=80.0, rounds=None, max_fit_work=None,
                    selections_per_refit=None, target=None,
                    progress=None))]
#[allow(clippy::too_many_arguments)]
fn fit(
    py: Python<'_>,
    schema: PathBuf,
    data: &Bound<'_, PyAny>,
    source_name: &str,
    epsilon: Option<f64>,
    delta: f64,
    rho: Option<f64>,
    mechanism: &str,
    privacy_unit: Option<String>,
    max_rows_per_unit: Option<u32>,
    workload: Option<PathBuf>,
    max_model_size: f64,
    rounds: Option<usize>,
    max_fit_work: Option<f64>,
    selections_per_refit: Option<usize>,
    target: Option<Vec<String>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Model, Vec<String>)> {
    // Everything that can fail without data or noise first: no budget is spent on a mistake.
    // No release from a build whose noise is not from a CSPRNG (as the command line).
    require_csprng().map_err(err)?;
    let started = ReleaseContext::start(None, None, None)
        .map_err(err)?
        .started;
    let budget = budget_of(epsilon, delta, rho)?;
    let schema_text = std::fs::read_to_string(&schema)
        .map_err(|e| err(format!("reading the schema {}: {e}", schema.display())))?;
    let parsed = Schema::from_path_for_release(&schema).map_err(err)?;
    let unit = resolve_unit(&parsed, privacy_unit.as_deref(), max_rows_per_unit).map_err(err)?;
    let workload_text = match &workload {
        Some(p) => Some((
            std::fs::read_to_string(p).map_err(|e| err(format!("reading {}: {e}", p.display())))?,
            p.display().to_string(),
        )),
        None => None,
    };
    let choice = MechanismChoice {
        mechanism,
        workload: workload_text
            .as_ref()
            .map(|(t, n)| (t.as_str(), n.as_str())),
        max_model_size,
        rounds,
        max_fit_work,
        selections_per_refit,
        targets: target.as_deref().unwrap_or(&[]),
    };
    let domain = Domain::new(parsed.modelled_names(), parsed.modelled_cardinalities());
    let spec = release_spec(&choice, &parsed, &domain, &unit).map_err(err)?;
    let mut notes: Vec<String> = spendable_note(&budget, &unit).into_iter().collect();

    let opts = ReadOptions {
        unit_column: unit.unit_column().map(String::from),
        ..ReadOptions::default()
    };
    let counts = if is_sql_source(data) {
        // Counting (and truncation to K rows per unit) in the engine (proofs/sql-source.md).
        Counts::Sql(sql_oracle(py, data, &parsed, &opts, &unit)?)
    } else {
        let (table, report) = read_table(py, data, source_name, &parsed, &opts)?;
        Counts::Memory(match &unit {
            PrivacyUnit::Record => {
                if let Some(n) = repeated_ids_note(
                    &report.repeated_ids,
                    source_name,
                    &schema.display().to_string(),
                ) {
                    notes.push(n);
                }
                table
            }
            // Truncation to K rows per unit, chosen with the CSPRNG (proofs/privacy-unit.md).
            PrivacyUnit::Column { max_rows, .. } => {
                truncate_units(&table, *max_rows, &mut secure_rng().map_err(err)?).map_err(err)?
            }
        })
    };
    let bars = PyProgress { callback: progress };
    let seed = rand::random();
    let fitted: Fitted = py
        .detach(|| match &counts {
            Counts::Memory(table) => {
                fit_release(&InMemoryOracle::new(table), budget, &spec, &bars, seed)
            }
            Counts::Sql(oracle) => fit_release(oracle, budget, &spec, &bars, seed),
        })
        .map_err(err)?;
    let options = spec.options_json(&domain);
    let counting = match counts {
        Counts::Memory(_) => Counting::Memory,
        Counts::Sql(_) => Counting::Spark,
    };
    Ok((
        Model {
            file: ModelFile::new(fitted, &schema_text),
            options: Some(options),
            started,
            counting,
        },
        notes,
    ))
}

// ---------------------------------------------------------------------------------------
// Verify, evaluate, draft, keygen.

/// Checks a certified release as `dpsynth verify` does. Returns {"ok", "checks", "text",
/// "certificate"}.
#[pyfunction]
#[pyo3(signature = (directory, public_key=None))]
fn verify<'py>(
    py: Python<'py>,
    directory: PathBuf,
    public_key: Option<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let key = match &public_key {
        Some(p) => Some(load_public_key(p).map_err(err)?),
        None => None,
    };
    let report = py.detach(|| verify_release(&directory, key.as_ref()));
    let mut v = serde_json::to_value(&report).map_err(err)?;
    v["text"] = serde_json::Value::String(report.to_text());
    json_to_py(py, &v)
}

/// Compares synthetic with real data, as `dpsynth evaluate --json`. INTERNAL: it reads the
/// private data; the dict says so under "notice".
#[pyfunction]
#[pyo3(signature = (real, synthetic, schema, *, max_marginals=None, target=None, dcr_sample=5000, seed=0))]
#[allow(clippy::too_many_arguments)]
fn evaluate<'py>(
    py: Python<'py>,
    real: &Bound<'py, PyAny>,
    synthetic: &Bound<'py, PyAny>,
    schema: PathBuf,
    max_marginals: Option<usize>,
    target: Option<String>,
    dcr_sample: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let schema = Schema::from_path(&schema).map_err(err)?;
    let opts = ReadOptions {
        allow_extra_columns: true,
        ..ReadOptions::default()
    };
    let (real, _) = read_table(py, real, "real data", &schema, &opts)?;
    let (synthetic, _) = read_table(py, synthetic, "synthetic data", &schema, &opts)?;
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    let target = match &target {
        Some(t) => Some(domain.index_of(t).ok_or_else(|| {
            err(format!(
                "--target {t:?} is not a modelled column of the schema"
            ))
        })?),
        None => None,
    };
    let numeric = schema
        .modelled()
        .iter()
        .map(|c| {
            matches!(
                c.kind(),
                ColumnKind::Integer(_) | ColumnKind::Float(_) | ColumnKind::Date(_)
            )
        })
        .collect();
    let opts = EvalOptions {
        max_marginals,
        seed,
        dcr_sample,
        target,
        numeric,
    };
    let rep = py
        .detach(|| eval_tables(&real, &synthetic, &domain, &opts))
        .map_err(err)?;
    let mut v: serde_json::Value = serde_json::from_str(&rep.to_json()).map_err(err)?;
    v["notice"] = serde_json::Value::String(NOTICE.to_string());
    json_to_py(py, &v)
}

/// Exact counts of the given marginals (lists of modelled column names) of the data, as the
/// in-memory oracle counts them, flat in row-major order of the schema's codes. INTERNAL and
/// PRIVATE (exact counts of the data, like `evaluate`): for checking that inputs and counting
/// back ends agree, never for publishing.
#[pyfunction]
#[pyo3(signature = (schema, data, source_name, marginals, allow_extra_columns=true))]
fn exact_marginals(
    py: Python<'_>,
    schema: PathBuf,
    data: &Bound<'_, PyAny>,
    source_name: &str,
    marginals: Vec<Vec<String>>,
    allow_extra_columns: bool,
) -> PyResult<Vec<Vec<u64>>> {
    let schema = Schema::from_path(&schema).map_err(err)?;
    let opts = ReadOptions {
        allow_extra_columns,
        ..ReadOptions::default()
    };
    let domain = Domain::new(schema.modelled_names(), schema.modelled_cardinalities());
    let cliques = marginals
        .iter()
        .map(|names| {
            let attrs = names
                .iter()
                .map(|n| {
                    domain
                        .index_of(n)
                        .ok_or_else(|| err(format!("{n:?} is not a modelled column of the schema")))
                })
                .collect::<PyResult<Vec<usize>>>()?;
            Ok(dpsynth::marginal::Clique::new(attrs))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let count = |oracle: &dyn MarginalOracle| -> Result<Vec<Vec<u64>>, String> {
        // One batch: a SQL engine answers many cliques per scan.
        oracle.prefetch(&cliques).map_err(|e| e.to_string())?;
        cliques
            .iter()
            .map(|c| {
                let m = oracle.marginal(c).map_err(|e| e.to_string())?;
                Ok(m.values.iter().map(|&v| v as u64).collect())
            })
            .collect()
    };
    let out = if is_sql_source(data) {
        let oracle = sql_oracle(py, data, &schema, &opts, &PrivacyUnit::Record)?;
        py.detach(|| count(&oracle))
    } else {
        let (table, _) = read_table(py, data, source_name, &schema, &opts)?;
        py.detach(|| count(&InMemoryOracle::new(&table)))
    }
    .map_err(err)?;
    Ok(out)
}

/// Drafts a schema from the data (a CSV path or an Arrow stream object). The draft is
/// PRIVATE: it is read from the data, carries `draft = true`, and a release refuses it
/// until a person replaces its values with public knowledge.
#[pyfunction]
fn draft_schema(py: Python<'_>, data: &Bound<'_, PyAny>, source_name: &str) -> PyResult<String> {
    if let Ok(path) = data.extract::<PathBuf>() {
        return py.detach(|| draft_from_csv(&path)).map_err(err);
    }
    let reader = stream_of(data)?;
    let fields = reader.schema();
    py.detach(move || draft_from_arrow(&fields, reader, source_name))
        .map_err(err)
}

/// Creates an Ed25519 key pair (KEY and KEY.pub) for signing releases; returns the public
/// key's path and fingerprint.
#[pyfunction]
fn keygen(out: PathBuf) -> PyResult<(PathBuf, String)> {
    dpsynth::release::keygen(Path::new(&out)).map_err(err)
}

#[pymodule]
fn _dpsynth(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DpsynthError", m.py().get_type::<DpsynthError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Model>()?;
    m.add_class::<ArrowTable>()?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(load_model, m)?)?;
    m.add_function(wrap_pyfunction!(budget, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(draft_schema, m)?)?;
    m.add_function(wrap_pyfunction!(exact_marginals, m)?)?;
    m.add_function(wrap_pyfunction!(keygen, m)?)?;
    Ok(())
}
