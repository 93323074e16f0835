"""Counting inside Spark (placeholder until the SQL generator lands)."""

from __future__ import annotations

from typing import Any

from ._dpsynth import DpsynthError


def fit(synth: Any, df: Any) -> Any:
    raise DpsynthError(
        "fitting on a Spark DataFrame needs dpsynth's SQL counting (not in this build); "
        "no row was read"
    )
