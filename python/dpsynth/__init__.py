"""dpsynth: differentially private synthetic tables, with a certificate of the guarantee.

A thin Python shell over the dpsynth Rust library (the same code as the ``dpsynth`` command
line): data cross into Rust as Arrow through the PyCapsule interface, the GIL is released while
the library works, and every error is a :class:`DpsynthError` with the command line's message.

>>> import dpsynth
>>> s = dpsynth.Synthesizer(schema="s.toml", epsilon=1.0, delta=1e-9, mechanism="aim")
>>> s.fit(df)                                # pandas / polars / pyarrow, CSV or Parquet path
>>> synthetic = s.sample(10_000, seed=7)     # a pandas DataFrame (or polars / pyarrow)
>>> rel = s.release("out/", sign_with="key.pem")   # the same certified directory as the CLI
>>> dpsynth.verify("out/")["ok"]
True

The schema is public knowledge the user asserts; dpsynth never infers it silently.
:func:`draft_schema` drafts one from the data for convenience: the draft is PRIVATE and a
release refuses it until a person has replaced its values with public knowledge.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import pyarrow as pa

from . import _dpsynth
from ._dpsynth import DpsynthError, Model, load_model as _load_model

__version__ = _dpsynth.__version__

__all__ = [
    "Synthesizer",
    "Release",
    "Model",
    "DraftSchema",
    "DpsynthError",
    "PrivateDataWarning",
    "budget",
    "verify",
    "evaluate",
    "draft_schema",
    "keygen",
    "load_model",
]

PathLike = Union[str, "os.PathLike[str]"]


class PrivateDataWarning(UserWarning):
    """Something shown to you was read from the private data (a draft schema, an operator's
    note): keep it to yourself, never publish it."""


# ---------------------------------------------------------------------------------------
# Inputs: anything tabular becomes a path or an Arrow stream, never rows in Python.


def _is_spark(data: Any) -> bool:
    mod = type(data).__module__ or ""
    return mod.startswith("pyspark.sql") and type(data).__name__ == "DataFrame"


def _arrow_input(data: Any) -> "tuple[Any, str]":
    """(what the native module reads, the name its messages give the source).

    A CSV path goes to the library's CSV reader as is; everything else crosses as an Arrow
    stream (``__arrow_c_stream__``), batch by batch.
    """
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if path.lower().endswith((".parquet", ".parq")):
            import pyarrow.dataset as ds

            # Streamed batch by batch: the file is never loaded whole into Python.
            return ds.dataset(path, format="parquet").scanner().to_reader(), path
        return path, path
    mod = type(data).__module__ or ""
    if mod.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False), "DataFrame"
    if mod.startswith("polars") and type(data).__name__ == "LazyFrame":
        data = data.collect()
    if hasattr(data, "__arrow_c_stream__"):
        return data, "DataFrame" if mod.startswith("polars") else "Arrow table"
    raise TypeError(
        f"dpsynth reads a pandas or polars DataFrame, a pyarrow Table or RecordBatchReader, "
        f"any object with __arrow_c_stream__, a Spark DataFrame, or a CSV or Parquet path; "
        f"got {type(data).__name__}"
    )


# ---------------------------------------------------------------------------------------
# Progress in notebooks and terminals.


class _Bars:
    """Forwards the library's phases to tqdm (tqdm.auto: a widget in notebooks)."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self._bar = None

    def __call__(self, event: str, text: str, steps: int) -> None:
        if event == "start":
            self._close()
            self._bar = self._tqdm(total=steps, desc=text, leave=False)
        elif self._bar is None:
            return
        elif event == "inc":
            self._bar.update(1)
        elif event == "message":
            self._bar.set_postfix_str(text)
        elif event == "finish":
            self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _progress_callback(progress: Union[bool, None, Callable[[str, str, int], None]]):
    """None: bars in notebooks and on terminals when tqdm is installed; False: none; True:
    always (tqdm required); a callable: called as (event, phase_or_message, steps)."""
    if callable(progress):
        return progress
    if progress is False:
        return None
    if progress is None and not (_in_notebook() or sys.stderr.isatty()):
        return None
    try:
        return _Bars()
    except ImportError:
        if progress:
            raise ImportError("progress=True needs tqdm: pip install tqdm") from None
        return None


# ---------------------------------------------------------------------------------------
# Outputs.


def _to_frame(table: Any, output: str) -> Any:
    t = pa.RecordBatchReader.from_stream(table).read_all()
    if output == "arrow":
        return t
    if output == "polars":
        import polars as pl

        return pl.from_arrow(t)
    if output == "pandas":
        import pandas as pd

        nullable = {
            pa.int64(): pd.Int64Dtype(),
            pa.float64(): pd.Float64Dtype(),
        }
        return t.to_pandas(types_mapper=nullable.get, date_as_object=False)
    raise ValueError(f'output must be "pandas", "polars" or "arrow"; got {output!r}')


@dataclass
class Release:
    """A certified release directory, as ``dpsynth synth`` writes it."""

    directory: str
    certificate: Dict[str, Any] = field(repr=False)

    @property
    def statement(self) -> str:
        """The guarantee in words."""
        return self.certificate["guarantee"]["statement"]

    def verify(self, public_key: Optional[PathLike] = None, raise_on_failure: bool = True) -> Dict[str, Any]:
        """Checks the release as ``dpsynth verify`` does (see :func:`verify`)."""
        return verify(self.directory, public_key=public_key, raise_on_failure=raise_on_failure)

    def synthetic(self, output: str = "pandas") -> Any:
        """The released records, read from the directory's synthetic.csv."""
        import pyarrow.csv as pacsv

        opts = pacsv.ConvertOptions(strings_can_be_null=False)
        t = pacsv.read_csv(os.path.join(self.directory, "synthetic.csv"), convert_options=opts)
        return _to_frame(t, output)


# ---------------------------------------------------------------------------------------
# The synthesizer.


class Synthesizer:
    """Fits a differentially private model of a table and samples synthetic records from it.

    Parameters
    ----------
    schema:
        Path of the PUBLIC schema (TOML; JSON or a benchmark ``*-domain.json`` accepted).
        A schema still marked ``draft = true`` is refused.
    epsilon, delta:
        The (epsilon, delta)-DP budget; converted to rho-zCDP by inverting the tight conversion.
    rho:
        A rho-zCDP budget instead of ``epsilon`` (``delta`` then only sets how the guarantee is
        reported).
    mechanism:
        ``"aim"`` (adaptive, best fidelity; default) or ``"mst"`` (fastest).
    privacy_unit, max_rows_per_unit:
        Protect each value of this ``id`` column (a patient, say) with all of its records,
        using at most K records per unit chosen with a CSPRNG; default: the schema's unit, else
        one record. Error messages name these as ``--privacy-unit`` and
        ``--max-rows-per-unit``, as the command line does.
    workload, max_model_size, rounds, max_fit_work, selections_per_refit:
        AIM only: a workload file, a cap on the model size in MB, a cap on the rounds, a
        compute budget of the rounds' refits in billions of calibrated cells (None:
        unbounded; bounds AIM's time at some cost in accuracy), the rounds run on one model
        before it is refitted (None: 3; 1 is the paper's AIM).
    target:
        Column(s) the synthetic data will be used to predict (``--target``): AIM's default
        workload emphasises the marginals that contain them (MST ignores it).
    progress:
        None (default): progress bars in notebooks and terminals when tqdm is installed;
        False: none; True: always; or a callable ``(event, phase_or_message, steps)``.

    The budget is spent by :meth:`fit`, once; :meth:`sample` and :meth:`release` are
    post-processing and may be called any number of times.
    """

    def __init__(
        self,
        schema: PathLike,
        epsilon: Optional[float] = None,
        delta: float = 1e-9,
        rho: Optional[float] = None,
        mechanism: str = "aim",
        privacy_unit: Optional[str] = None,
        max_rows_per_unit: Optional[int] = None,
        *,
        workload: Optional[PathLike] = None,
        max_model_size: float = 80.0,
        rounds: Optional[int] = None,
        max_fit_work: Optional[float] = None,
        selections_per_refit: Optional[int] = None,
        target: Union[str, Sequence[str], None] = None,
        progress: Union[bool, None, Callable[[str, str, int], None]] = None,
    ) -> None:
        if epsilon is None and rho is None:
            raise ValueError("give a budget: epsilon (with delta) or rho")
        if mechanism not in ("aim", "mst"):
            raise ValueError(f'mechanism must be "aim" or "mst"; got {mechanism!r}')
        self.schema = os.fspath(schema)
        self.epsilon = epsilon
        self.delta = delta
        self.rho = rho
        self.mechanism = mechanism
        self.privacy_unit = privacy_unit
        self.max_rows_per_unit = max_rows_per_unit
        self.workload = None if workload is None else os.fspath(workload)
        self.max_model_size = max_model_size
        self.rounds = rounds
        self.max_fit_work = max_fit_work
        self.selections_per_refit = selections_per_refit
        self.target = [target] if isinstance(target, str) else (None if target is None else list(target))
        self.progress = progress
        self._model: Optional[Model] = None

    def __repr__(self) -> str:
        budget = f"epsilon={self.epsilon}, delta={self.delta}" if self.rho is None else f"rho={self.rho}"
        state = "fitted" if self._model is not None else "not fitted"
        return f"Synthesizer(schema={self.schema!r}, {budget}, mechanism={self.mechanism!r}; {state})"

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, data: Any) -> "Synthesizer":
        """Spends the budget: measures the data with the mechanism and fits the model.

        ``data``: a pandas or polars DataFrame, a pyarrow Table or RecordBatchReader (any
        object with ``__arrow_c_stream__``), a CSV or Parquet path, or a Spark DataFrame.
        Rows cross into Rust as Arrow batches; the GIL is released while the model is fitted.
        Returns ``self``. Fitting again spends the budget again.
        """
        if _is_spark(data):
            # Counted inside Spark: only counts reach the driver (dpsynth.spark).
            from .spark import SparkSource

            with SparkSource(data) as source:
                model, notes = self._fit(source, source.description)
        else:
            source, name = _arrow_input(data)
            model, notes = self._fit(source, name)
        for note in notes:
            warnings.warn(note, PrivateDataWarning, stacklevel=2)
        for w in model.warnings:
            warnings.warn(w, UserWarning, stacklevel=2)
        self._model = model
        return self

    def _fit(self, source: Any, name: str) -> "tuple[Model, List[str]]":
        return _dpsynth.fit(
            self.schema,
            source,
            name,
            epsilon=self.epsilon,
            delta=self.delta,
            rho=self.rho,
            mechanism=self.mechanism,
            privacy_unit=self.privacy_unit,
            max_rows_per_unit=self.max_rows_per_unit,
            workload=self.workload,
            max_model_size=self.max_model_size,
            rounds=self.rounds,
            max_fit_work=self.max_fit_work,
            selections_per_refit=self.selections_per_refit,
            target=self.target,
            progress=_progress_callback(self.progress),
        )

    @property
    def model(self) -> Model:
        """The fitted DP model (shareable: noisy measurements and the model fitted to them)."""
        if self._model is None:
            raise DpsynthError("fit the synthesizer first: s.fit(data)")
        return self._model

    @property
    def spent(self) -> Dict[str, float]:
        """What the fit spent: rho, and the (epsilon, delta) it implies."""
        m = self.model
        return {"rho": m.rho, "epsilon": m.epsilon, "delta": m.delta}

    # -- post-processing -------------------------------------------------------------------

    def sample(
        self,
        rows: Optional[int] = None,
        seed: Optional[int] = None,
        *,
        method: str = "rounding",
        output: str = "pandas",
    ) -> Any:
        """Draws synthetic records (default: the model's noisy estimate of the row count).

        Post-processing of the model only: no budget is spent. The same seed gives the same
        records, and the same values a release with that seed writes to synthetic.csv.
        ``output``: ``"pandas"`` (nullable dtypes, dates as datetime64), ``"polars"`` or
        ``"arrow"``.
        """
        table, _ = self.model.sample(rows, seed, method)
        return _to_frame(table, output)

    def release(
        self,
        out: PathLike,
        *,
        rows: Optional[int] = None,
        seed: Optional[int] = None,
        method: str = "rounding",
        sign_with: Optional[PathLike] = None,
        force: bool = False,
        curator: Optional[str] = None,
        purpose: Optional[str] = None,
        dataset_label: Optional[str] = None,
    ) -> Release:
        """Writes the certified release directory (synthetic.csv, model.json, accuracy.json,
        certificate.json, README.txt) exactly as ``dpsynth synth`` does, atomically;
        ``dpsynth verify`` checks it. ``sign_with``: an Ed25519 private key from
        :func:`keygen` or ``dpsynth keygen``. ``curator``, ``purpose`` and ``dataset_label``
        (an opaque name, never a hash of the data) go into the certificate's release context,
        as the CLI's ``--curator``, ``--purpose`` and ``--dataset-label``."""
        cert = self.model.release(
            os.fspath(out),
            rows,
            seed,
            method,
            None if sign_with is None else os.fspath(sign_with),
            force,
            curator,
            purpose,
            dataset_label,
        )
        return Release(os.fspath(out), cert)

    def save_model(self, path: PathLike) -> None:
        """Writes the model file (as ``dpsynth fit --out``); :func:`load_model` and
        ``dpsynth sample --model`` read it."""
        self.model.save(os.fspath(path))


# ---------------------------------------------------------------------------------------
# Functions.


def budget(epsilon: Optional[float] = None, delta: float = 1e-9, rho: Optional[float] = None) -> Dict[str, Any]:
    """What a budget means: ``{"rho", "epsilon", "delta", "conversion"}``, without data."""
    return _dpsynth.budget(epsilon, delta, rho)


def verify(
    directory: PathLike,
    public_key: Optional[PathLike] = None,
    raise_on_failure: bool = False,
) -> Dict[str, Any]:
    """Checks a certified release as ``dpsynth verify`` does: re-derives every figure of the
    certificate from its ledger, checks hashes, row counts and the signature.

    Returns ``{"ok", "checks": [{"name", "ok", "detail"}], "text", "certificate"}``; with
    ``raise_on_failure=True`` a failed check raises :class:`DpsynthError` with the report.
    """
    report = _dpsynth.verify(os.fspath(directory), None if public_key is None else os.fspath(public_key))
    if raise_on_failure and not report["ok"]:
        raise DpsynthError(report["text"])
    return report


def evaluate(
    real: Any,
    synthetic: Any,
    schema: PathLike,
    *,
    max_marginals: Optional[int] = None,
    target: Optional[str] = None,
    dcr_sample: int = 5000,
    seed: int = 0,
) -> Dict[str, Any]:
    """Compares synthetic with real data (fidelity, utility, disclosure risk), as
    ``dpsynth evaluate --json``. INTERNAL: it reads the private data, so the result must not
    be published; its ``"notice"`` says so."""
    real_src, _ = _arrow_input(real)
    syn_src, _ = _arrow_input(synthetic)
    return _dpsynth.evaluate(
        real_src,
        syn_src,
        os.fspath(schema),
        max_marginals=max_marginals,
        target=target,
        dcr_sample=dcr_sample,
        seed=seed,
    )


class DraftSchema(str):
    """A schema drafted from the data: its text, marked ``draft = true``. PRIVATE: its value
    lists, bounds and bins were read from the data. Replace them with public knowledge and
    delete the ``draft = true`` line before a release; a release refuses it as is."""

    private = True

    def save(self, path: PathLike) -> None:
        """Writes the draft to ``path`` (to edit it there)."""
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(str(self))


def draft_schema(data: Any) -> DraftSchema:
    """Drafts a schema from the data, as ``dpsynth schema draft``. The draft is PRIVATE and
    marked ``draft = true``; a :class:`PrivateDataWarning` says so."""
    source, name = _arrow_input(data)
    text = _dpsynth.draft_schema(source, name)
    warnings.warn(
        "this draft schema was read from the PRIVATE data and may disclose it; replace its "
        "values, bounds and bins with public knowledge, then delete `draft = true`",
        PrivateDataWarning,
        stacklevel=2,
    )
    return DraftSchema(text)


def keygen(out: PathLike) -> "tuple[str, str]":
    """Creates an Ed25519 key pair (``out`` and ``out.pub``) for signing releases; returns
    the public key's path and fingerprint."""
    pub, fingerprint = _dpsynth.keygen(os.fspath(out))
    return os.fspath(pub), fingerprint


def load_model(path: PathLike) -> Model:
    """Loads a model file (``dpsynth fit``, a release's model.json, or
    :meth:`Synthesizer.save_model`); sample from it with ``Model.sample``."""
    return _load_model(os.fspath(path))


def _exact_marginals(data: Any, schema: PathLike, marginals: "List[List[str]]") -> "List[List[int]]":
    """INTERNAL, PRIVATE: exact counts of ``marginals`` (lists of column names; cells in
    row-major order of the columns' schema order) as the in-memory oracle counts them. For
    checking that inputs and counting back ends agree; never publish its output."""
    wanted = [list(m) for m in marginals]
    if _is_spark(data):
        from .spark import SparkSource

        with SparkSource(data) as source:
            return _dpsynth.exact_marginals(os.fspath(schema), source, source.description, wanted)
    source, name = _arrow_input(data)
    return _dpsynth.exact_marginals(os.fspath(schema), source, name, wanted)
