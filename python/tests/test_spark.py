"""Spark in local mode: counting inside Spark equals the in-memory oracle, a release fitted on
a Spark DataFrame verifies with the CLI, bad input raises in the CLI's words, and no row of the
DataFrame reaches the driver (every statement dpsynth runs is an aggregate)."""

import itertools
import json
import os
import shutil

import pytest

import dpsynth
from conftest import need, run_cli


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        need(False, "pyspark is not installed (pip install pyspark)")
    need(shutil.which("java") is not None or "JAVA_HOME" in os.environ, "no Java runtime for Spark")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("dpsynth-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        # Spark's default warehouse is ./spark-warehouse, left behind in the checkout.
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .getOrCreate()
    )
    yield session
    session.stop()


def spark_csv(spark, path):
    # Every column as text, as the CSV reader sees it.
    return spark.read.csv(str(path), header=True, inferSchema=False)


def test_spark_counts_all_two_way_marginals_of_adult_exactly(spark, adult):
    csv, schema = adult
    names = list(json.loads(open(schema).read()).keys())
    marginals = [list(p) for p in itertools.combinations(names, 2)]
    want = dpsynth._exact_marginals(str(csv), schema, marginals)
    got = dpsynth._exact_marginals(spark_csv(spark, csv), schema, marginals)
    assert len(got) == len(marginals) == 105
    assert sum(got[0]) == 48842
    assert got == want


def test_spark_runs_only_aggregates(spark, demo_csv, demo_schema):
    from dpsynth.spark import SparkSource

    df = spark_csv(spark, demo_csv)
    with SparkSource(df) as src:
        dpsynth._dpsynth.exact_marginals(str(demo_schema), src, src.description, [["age", "sex"], ["died"]])
        assert src.statements, "no statement ran"
        for sql in src.statements:
            # The optimized plan's root is an aggregate: one result row per group, never a
            # row of the DataFrame. This covers the relation persisted in the executors
            # (the codes grouped by distinct row) as well as every query run.
            qe = spark.sql(sql)._jdf.queryExecution()
            plan = qe.optimizedPlan()
            if plan.nodeName() == "InMemoryRelation":
                # The persisted relation itself, now served from the cache: what was
                # persisted is its analyzed plan.
                plan = qe.analyzed()
            assert plan.nodeName() == "Aggregate", plan.toString()
        assert any("GROUPING SETS" in sql for sql in src.statements)
        # The counts were read from the persisted aggregate, not by re-reading the source.
        kept = [name for name, _ in src._kept]
        assert len(kept) == 1, kept
        counts = [sql for sql in src.statements if "GROUPING SETS" in sql]
        assert counts and all(f"FROM {kept[0]}" in sql for sql in counts), counts
        assert spark.catalog.isCached(kept[0])
    # Closed: the persisted view is gone.
    assert not [t for t in spark.catalog.listTables() if t.name.startswith("dpsynth_")]


def test_spark_release_verifies_with_the_cli(spark, demo_csv, demo_schema, tmp_path, cli):
    df = spark_csv(spark, demo_csv)
    s = dpsynth.Synthesizer(schema=demo_schema, epsilon=1.0, mechanism="mst", progress=False)
    s.fit(df)
    out = tmp_path / "rel"
    s.release(out, seed=3, purpose="spark test")
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["deployment"]["counting"] == "spark", cert.get("deployment")
    assert cert["release"]["purpose"] == "spark test"
    v = dpsynth.verify(out)
    assert v["ok"], v["text"]
    r = run_cli(cli, "verify", out)
    assert r.returncode == 0, r.stdout + r.stderr
    # The temporary view is gone.
    assert not [t for t in spark.catalog.listTables() if t.name.startswith("dpsynth_")]


def test_spark_unit_truncation_and_bad_input(spark, demo_csv, demo_schema, tmp_path):
    df = spark_csv(spark, demo_csv)
    s = dpsynth.Synthesizer(
        schema=demo_schema, epsilon=1.0, mechanism="mst", privacy_unit="patient_id", max_rows_per_unit=2, progress=False
    )
    s.fit(df)
    assert "patient_id" in s.model.privacy_unit
    # A value outside the schema: the CLI's grouped message, values hidden, nothing spent.
    from pyspark.sql import functions as F

    bad = df.withColumn("sex", F.when(F.col("age") == "40", F.lit("Q")).otherwise(F.col("sex")))
    s2 = dpsynth.Synthesizer(schema=demo_schema, epsilon=1.0, mechanism="mst", progress=False)
    with pytest.raises(dpsynth.DpsynthError) as e:
        s2.fit(bad)
    msg = str(e.value)
    assert 'column "sex"' in msg and "nothing was spent" in msg, msg
    assert "Q" not in msg.split("sex")[-1][:40], msg


VISITS_SCHEMA = """
[[columns]]
name = "patient"
kind = "id"

[[columns]]
name = "seen_at"
kind = "datetime"
min = "2023-01-01 00:00"
max = "2023-01-07 23:59"
unit = "hour"
{format}

[[columns]]
name = "sex"
kind = "categorical"
values = ["F", "M"]

[[columns]]
name = "age"
kind = "integer"
min = 0
max = 100
bin_width = 10
"""


def test_spark_counts_text_date_times_as_the_csv_reader(spark, tmp_path):
    # Date-times stored as text, parsed in Spark SQL as the CSV reader parses them: ISO 8601
    # (with or without seconds, clamped to the bounds) and a column `format` (with a leading
    # space); the counts of every 1- and 2-way marginal are the in-memory oracle's.
    import datetime as dt
    import random

    rng = random.Random(5)
    rows = []
    for i in range(400):
        t = dt.datetime(2022, 12, 31, 20) + dt.timedelta(minutes=rng.randrange(0, 8 * 24 * 60))
        rows.append((f"P{i % 150}", t, rng.choice("FM"), rng.randrange(0, 101)))
    iso = tmp_path / "iso.csv"
    iso.write_text(
        "patient,seen_at,sex,age\n"
        + "".join(
            f"{p},{t.strftime('%Y-%m-%d %H:%M:%S' if k % 2 else '%Y-%m-%dT%H:%M')},{s},{a}\n"
            for k, (p, t, s, a) in enumerate(rows)
        )
    )
    dmy = tmp_path / "dmy.csv"
    dmy.write_text(
        "patient,seen_at,sex,age\n" + "".join(f"{p}, {t.strftime('%d/%m/%Y %H:%M')},{s},{a}\n" for p, t, s, a in rows)
    )
    schemas = {
        iso: tmp_path / "iso.toml",
        dmy: tmp_path / "dmy.toml",
    }
    schemas[iso].write_text(VISITS_SCHEMA.format(format=""))
    schemas[dmy].write_text(VISITS_SCHEMA.format(format='format = "%d/%m/%Y %H:%M"'))
    names = ["seen_at", "sex", "age"]
    marginals = [[n] for n in names] + [list(p) for p in itertools.combinations(names, 2)]
    for csv, schema in schemas.items():
        want = dpsynth._exact_marginals(str(csv), schema, marginals)
        got = dpsynth._exact_marginals(spark_csv(spark, csv), schema, marginals)
        assert sum(want[0]) == 400
        assert got == want, csv.name
    # Text that is not a date-time in the schema's terms is reported in the CSV reader's
    # words, values hidden, and nothing is counted or spent.
    bad = tmp_path / "bad.csv"
    bad.write_text(iso.read_text().replace("\nP3,", "\nP3,yesterday,M,1\nP3,", 1))
    s = dpsynth.Synthesizer(schema=schemas[iso], epsilon=1.0, mechanism="mst", progress=False)
    with pytest.raises(dpsynth.DpsynthError) as e:
        s.fit(spark_csv(spark, bad))
    msg = str(e.value)
    assert 'column "seen_at"' in msg and "nothing was spent" in msg, msg
    assert "yesterday" not in msg, msg
