"""Shared fixtures: the repository, the demo data, the public benchmark data and the CLI.

Tests that need something absent (the shared benchmark data, the CLI binary, Spark) skip with
a printed reason, except under CI=true, where they fail.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "data"
SHARED = REPO.parent / "shared" / "data"
CI = os.environ.get("CI") == "true"


def need(condition: bool, what: str) -> None:
    """Skip (printing why) when `condition` is false, or fail under CI=true."""
    if condition:
        return
    if CI:
        pytest.fail(f"{what} (required under CI=true)")
    print(f"SKIP: {what}")
    pytest.skip(what)


@pytest.fixture(scope="session")
def demo_csv() -> Path:
    return DEMO / "admissions.csv"


@pytest.fixture(scope="session")
def demo_schema() -> Path:
    return DEMO / "admissions.schema.toml"


@pytest.fixture(scope="session")
def adult():
    csv = SHARED / "adult" / "adult.csv"
    schema = SHARED / "adult" / "adult-domain.json"
    need(csv.exists() and schema.exists(), f"the public adult data is not at {csv}")
    return csv, schema


@pytest.fixture(scope="session")
def cli() -> str:
    """The dpsynth command line: $DPSYNTH_CLI, else the workspace's release or debug build."""
    env = os.environ.get("DPSYNTH_CLI")
    candidates = [env] if env else []
    candidates += [str(REPO / "target" / "release" / "dpsynth"), str(REPO / "target" / "debug" / "dpsynth")]
    for c in candidates:
        if c and Path(c).exists():
            return c
    found = shutil.which("dpsynth")
    need(found is not None, "no dpsynth binary (cargo build --release, or set DPSYNTH_CLI)")
    return found


def run_cli(cli: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
