"""Counting inside Spark: a Spark DataFrame as a SQL source.

The library compiles the public schema to Spark SQL (one code expression per column, the
CSV reader's rules cell for cell, truncation to K rows per unit, ``GROUP BY GROUPING SETS``
over many marginals per scan); :class:`SparkSource` runs that SQL through the DataFrame's
own session. The source is checked with one plain aggregate (problems grouped only when
there are some); then the encoded rows, aggregated by distinct row (the codes and how many
rows hold them), are persisted in the executors (memory, spilling to disk) as a temporary
view, so every batch of marginals scans that instead of re-reading and re-encoding the
source. Only the results of aggregate queries come back to the driver: counts per cell of
the requested marginals (zeros filled over the public domain in Rust), and, when the data
break the schema, problems grouped by column with their row counts. No row of the DataFrame
is collected. Works on any Spark session (local, standalone, Databricks).
"""

from __future__ import annotations

import uuid
from typing import Any, List, Tuple


def _sql_type(data_type: Any) -> str:
    """The engine-neutral type name the schema compiler takes (see dpsynth::sql::SqlType)."""
    name = type(data_type).__name__
    return {
        "StringType": "text",
        "VarcharType": "text",
        "CharType": "text",
        "ByteType": "integer",
        "ShortType": "integer",
        "IntegerType": "integer",
        "LongType": "integer",
        "FloatType": "float",
        "DoubleType": "float",
        "DecimalType": "decimal",
        "BooleanType": "boolean",
        "DateType": "date",
        "TimestampType": "timestamp",
        "TimestampNTZType": "timestamp",
    }.get(name, "other")


def _cell(v: Any) -> Any:
    if v is None or isinstance(v, (int, str)):
        return v
    return str(v)


class SparkSource:
    """A Spark DataFrame, registered as a temporary view in its session, that runs the SQL
    dpsynth compiles. Use it as a context manager (the view is dropped on exit)."""

    __dpsynth_sql__ = True

    def __init__(self, df: Any) -> None:
        self.session = df.sparkSession
        self.view = f"dpsynth_{uuid.uuid4().hex}"
        df.createOrReplaceTempView(self.view)
        self.columns: List[Tuple[str, str]] = [(f.name, _sql_type(f.dataType)) for f in df.schema.fields]
        self.description = "Spark DataFrame"
        #: Every statement run or persisted, in order (for inspection: they are aggregates
        #: only).
        self.statements: List[str] = []
        self._kept: List[Tuple[str, Any]] = []

    def query(self, sql: str) -> List[Tuple[Any, ...]]:
        """Runs one compiled aggregate query; its result rows (counts, grouped problems)."""
        self.statements.append(sql)
        return [tuple(_cell(v) for v in row) for row in self.session.sql(sql).collect()]

    def materialize(self, sql: str) -> str:
        """Persists the aggregate relation ``sql`` (the encoded rows grouped by distinct row,
        with their counts) in the executors, as a temporary view; returns its name. Lazy:
        the first count query computes it. Nothing is collected."""
        from pyspark import StorageLevel

        self.statements.append(sql)
        df = self.session.sql(sql).persist(StorageLevel.MEMORY_AND_DISK)
        name = f"{self.view}_codes"
        df.createOrReplaceTempView(name)
        self._kept.append((name, df))
        return name

    def close(self) -> None:
        for name, df in self._kept:
            self.session.catalog.dropTempView(name)
            df.unpersist()
        self._kept.clear()
        self.session.catalog.dropTempView(self.view)

    def __enter__(self) -> "SparkSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
