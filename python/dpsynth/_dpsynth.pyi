"""Type stubs of the native module dpsynth._dpsynth (Rust, PyO3)."""

from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

_Path = Union[str, PathLike[str]]
_Progress = Callable[[str, str, int], None]

__version__: str

class DpsynthError(Exception):
    """A dpsynth error: bad input, schema, budget or release. The message is the CLI's."""

class ArrowTable:
    """Synthetic records as an Arrow stream (one use)."""

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...

class Model:
    """A fitted DP model: noisy measurements, the graphical model, ledger, schema, unit."""

    @property
    def mechanism(self) -> str: ...
    @property
    def rho(self) -> float: ...
    @property
    def epsilon(self) -> float: ...
    @property
    def delta(self) -> float: ...
    @property
    def privacy_unit(self) -> str: ...
    @property
    def default_rows(self) -> int: ...
    @property
    def ledger(self) -> List[Dict[str, Any]]: ...
    @property
    def accuracy(self) -> Optional[Dict[str, Any]]: ...
    @property
    def warnings(self) -> List[str]: ...
    @property
    def schema_text(self) -> str: ...
    def sample(
        self, rows: Optional[int] = None, seed: Optional[int] = None, method: str = "rounding"
    ) -> Tuple[ArrowTable, int]: ...
    def release(
        self,
        out: _Path,
        rows: Optional[int] = None,
        seed: Optional[int] = None,
        method: str = "rounding",
        sign_with: Optional[_Path] = None,
        force: bool = False,
        curator: Optional[str] = None,
        purpose: Optional[str] = None,
        dataset_label: Optional[str] = None,
    ) -> Dict[str, Any]: ...
    def save(self, path: _Path) -> None: ...

def fit(
    schema: _Path,
    data: object,
    source_name: str,
    *,
    epsilon: Optional[float] = None,
    delta: float = 1e-9,
    rho: Optional[float] = None,
    mechanism: str = "aim",
    privacy_unit: Optional[str] = None,
    max_rows_per_unit: Optional[int] = None,
    workload: Optional[_Path] = None,
    max_model_size: float = 80.0,
    rounds: Optional[int] = None,
    max_fit_work: Optional[float] = None,
    selections_per_refit: Optional[int] = None,
    target: Optional[List[str]] = None,
    progress: Optional[_Progress] = None,
) -> Tuple[Model, List[str]]: ...
def load_model(path: _Path) -> Model: ...
def budget(
    epsilon: Optional[float] = None, delta: float = 1e-9, rho: Optional[float] = None
) -> Dict[str, Any]: ...
def verify(directory: _Path, public_key: Optional[_Path] = None) -> Dict[str, Any]: ...
def evaluate(
    real: object,
    synthetic: object,
    schema: _Path,
    *,
    max_marginals: Optional[int] = None,
    target: Optional[str] = None,
    dcr_sample: int = 5000,
    seed: int = 0,
) -> Dict[str, Any]: ...
def draft_schema(data: object, source_name: str) -> str: ...
def keygen(out: _Path) -> Tuple[str, str]: ...
def exact_marginals(
    schema: _Path,
    data: object,
    source_name: str,
    marginals: List[List[str]],
    allow_extra_columns: bool = True,
) -> List[List[int]]: ...
