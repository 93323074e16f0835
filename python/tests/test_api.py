"""The Python API end to end on the bundled demo data (and adult where it says so)."""

import itertools
import json
import os
import threading
import time
import warnings

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import dpsynth
from conftest import run_cli


def read_pandas(path):
    # Everything as text, as a hospital's export often arrives; dpsynth parses by the schema.
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_budget_is_the_cli_conversion(cli):
    b = dpsynth.budget(epsilon=1, delta=1e-9)
    out = run_cli(cli, "budget", "--epsilon", "1", "--delta", "1e-9", "--json")
    assert out.returncode == 0, out.stderr
    want = json.loads(out.stdout)
    assert b["rho"] == want["rho"] and b["epsilon"] == want["epsilon"]
    assert abs(b["rho"] - 0.0149731) < 1e-6
    with pytest.raises(ValueError):
        dpsynth.budget(epsilon=0)
    with pytest.raises(ValueError):
        dpsynth.budget(epsilon=1, rho=0.1)


def test_pandas_polars_arrow_csv_and_parquet_inputs_count_alike(demo_csv, demo_schema, tmp_path):
    cols = ["age", "sex", "admission_type", "icu", "admission_date", "creatinine", "died"]
    marginals = [list(p) for p in itertools.combinations(cols, 2)] + [[c] for c in cols]
    want = dpsynth._exact_marginals(str(demo_csv), demo_schema, marginals)
    table = pacsv.read_csv(demo_csv)  # typed: ints, floats, dates
    pq.write_table(table, tmp_path / "a.parquet")
    inputs = {
        "pandas (text)": read_pandas(demo_csv),
        "pandas (typed)": table.to_pandas(),
        "polars": pl.read_csv(demo_csv, try_parse_dates=True),
        "pyarrow table": table,
        "pyarrow reader": pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=777)),
        "parquet path": tmp_path / "a.parquet",
    }
    assert sum(want[-1]) == 20000
    for name, data in inputs.items():
        got = dpsynth._exact_marginals(data, demo_schema, marginals)
        assert got == want, name


def test_fit_sample_release_verify(demo_csv, demo_schema, tmp_path, cli):
    s = dpsynth.Synthesizer(schema=demo_schema, epsilon=1.0, delta=1e-9, mechanism="mst", progress=False)
    assert s.fit(read_pandas(demo_csv)) is s
    m = s.model
    # The schema declares the unit: a patient with up to 3 admissions.
    assert "patient_id" in m.privacy_unit
    assert m.epsilon <= 1.0 + 1e-9 and m.rho > 0
    assert m.ledger and all("rho" in e for e in m.ledger)

    df = s.sample(500, seed=7)
    assert isinstance(df, pd.DataFrame) and len(df) == 500
    assert list(df.columns) == list(read_pandas(demo_csv).columns)
    assert str(df["age"].dtype) == "Int64"
    assert df["admission_date"].dtype.kind == "M"
    assert df["patient_id"].iloc[0] == "PSYN-1"
    assert s.sample(500, seed=7).equals(df), "a seed reproduces the sample"
    assert isinstance(s.sample(10, seed=1, output="polars"), pl.DataFrame)
    assert isinstance(s.sample(10, seed=1, output="arrow"), pa.Table)

    rel = s.release(tmp_path / "rel", seed=11, rows=2000)
    assert rel.certificate["guarantee"]["epsilon"] <= 1.0 + 1e-9
    report = dpsynth.verify(rel.directory)
    assert report["ok"], report["text"]
    out = run_cli(cli, "verify", rel.directory)
    assert out.returncode == 0, out.stdout + out.stderr
    # The release's synthetic.csv holds the values sample() draws with the same seed.
    cols = [["age", "sex"], ["admission_date", "creatinine"], ["ward", "icu", "died"]]
    released = dpsynth._exact_marginals(os.path.join(rel.directory, "synthetic.csv"), demo_schema, cols)
    sampled = dpsynth._exact_marginals(s.sample(2000, seed=11), demo_schema, cols)
    assert released == sampled

    # Tampering is caught, by both.
    cert = os.path.join(rel.directory, "certificate.json")
    c = json.load(open(cert))
    c["guarantee"]["epsilon"] = 0.5
    json.dump(c, open(cert, "w"))
    assert not dpsynth.verify(rel.directory)["ok"]
    with pytest.raises(dpsynth.DpsynthError):
        dpsynth.verify(rel.directory, raise_on_failure=True)
    assert run_cli(cli, "verify", rel.directory).returncode != 0


def test_cli_release_verifies_from_python_and_model_file_loads(demo_csv, demo_schema, tmp_path, cli):
    out = run_cli(cli, "synth", "--data", demo_csv, "--schema", demo_schema, "--epsilon", "1",
                  "--mechanism", "mst", "--rows", "300", "--out", tmp_path / "r", "--quiet")
    assert out.returncode == 0, out.stderr
    assert dpsynth.verify(tmp_path / "r")["ok"]
    m = dpsynth.load_model(tmp_path / "r" / "model.json")
    t, seed = m.sample(50, seed=3)
    assert pa.RecordBatchReader.from_stream(t).read_all().num_rows == 50 and seed == 3
    with pytest.raises(dpsynth.DpsynthError, match="not certified again"):
        m.release(str(tmp_path / "again"))


def test_signed_release(demo_csv, demo_schema, tmp_path, cli):
    pub, fingerprint = dpsynth.keygen(tmp_path / "key")
    s = dpsynth.Synthesizer(demo_schema, epsilon=0.5, mechanism="mst", progress=False).fit(str(demo_csv))
    rel = s.release(tmp_path / "signed", sign_with=tmp_path / "key")
    assert rel.certificate["signature"]["fingerprint"] == fingerprint
    assert rel.verify(public_key=pub)["ok"]
    assert run_cli(cli, "verify", rel.directory, "--public-key", pub).returncode == 0
    with pytest.raises(dpsynth.DpsynthError, match="already exists"):
        s.release(tmp_path / "signed")
    s.release(tmp_path / "signed", force=True)


def test_bad_input_raises_the_cli_message(demo_csv, demo_schema, tmp_path, cli):
    df = read_pandas(demo_csv)
    df.loc[41, "sex"] = "X"
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    out = run_cli(cli, "fit", "--data", bad, "--schema", demo_schema, "--epsilon", "1",
                  "--out", tmp_path / "m.json")
    assert out.returncode == 1
    s = dpsynth.Synthesizer(demo_schema, epsilon=1, mechanism="mst", progress=False)
    with pytest.raises(dpsynth.DpsynthError) as e:
        s.fit(str(bad))
    # The CLI's report, line for line: problems grouped and counted, values hidden.
    for line in str(e.value).splitlines():
        assert line in out.stderr, (line, out.stderr)
    assert 'column "sex"' in str(e.value) and "1 problem(s) in the data" in str(e.value)
    assert '"X"' not in str(e.value), "values stay hidden, as the CLI hides them"
    # The same error from a DataFrame names the frame and the same line, value hidden.
    with pytest.raises(dpsynth.DpsynthError) as e:
        s.fit(df)
    assert str(e.value).startswith('DataFrame: line 43: column "sex": the value is'), str(e.value)
    assert '"X"' not in str(e.value)
    # Missing column, bad budget, unknown unit column: the CLI's words.
    with pytest.raises(dpsynth.DpsynthError, match="the header lacks schema column"):
        s.fit(df.drop(columns=["ward"]))
    with pytest.raises(ValueError):
        dpsynth.Synthesizer(demo_schema, epsilon=-1, mechanism="mst").fit(df)
    with pytest.raises(dpsynth.DpsynthError, match="--privacy-unit sex: the column is a categorical column"):
        dpsynth.Synthesizer(demo_schema, epsilon=1, mechanism="mst", privacy_unit="sex",
                            max_rows_per_unit=2, progress=False).fit(df)
    with pytest.raises(dpsynth.DpsynthError, match='--target "nope" is not a modelled column'):
        dpsynth.Synthesizer(demo_schema, epsilon=1, mechanism="aim", target="nope",
                            progress=False).fit(df)
    with pytest.raises(TypeError):
        s.fit([1, 2, 3])
    with pytest.raises(dpsynth.DpsynthError, match="fit the synthesizer first"):
        dpsynth.Synthesizer(demo_schema, epsilon=1).sample(5)


def test_draft_schema_is_private_and_refused(demo_csv, tmp_path, cli):
    with pytest.warns(dpsynth.PrivateDataWarning):
        draft = dpsynth.draft_schema(read_pandas(demo_csv))
    assert isinstance(draft, dpsynth.DraftSchema) and draft.private
    assert "draft = true" in draft and 'name = "ward"' in draft
    draft.save(tmp_path / "d.toml")
    with pytest.raises(dpsynth.DpsynthError) as e:
        dpsynth.Synthesizer(tmp_path / "d.toml", epsilon=1, mechanism="mst", progress=False).fit(str(demo_csv))
    out = run_cli(cli, "fit", "--data", demo_csv, "--schema", tmp_path / "d.toml", "--epsilon", "1",
                  "--out", tmp_path / "m.json")
    assert out.returncode == 1 and str(e.value) in out.stderr
    # A draft from the file equals the CLI's draft.
    with pytest.warns(dpsynth.PrivateDataWarning):
        from_path = dpsynth.draft_schema(str(demo_csv))
    assert from_path == run_cli(cli, "schema", "draft", "--data", demo_csv).stdout


def test_progress_events_and_evaluate(demo_csv, demo_schema):
    events = []
    s = dpsynth.Synthesizer(demo_schema, epsilon=1, mechanism="mst",
                            progress=lambda e, t, n: events.append((e, t, n)))
    s.fit(str(demo_csv))
    starts = [t for e, t, _ in events if e == "start"]
    assert starts and "error bars" in starts and ("finish", "", 0) in events
    rep = dpsynth.evaluate(str(demo_csv), s.sample(5000, seed=1), demo_schema, max_marginals=20, dcr_sample=0)
    assert "INTERNAL" in rep["notice"]
    same = dpsynth.evaluate(str(demo_csv), read_pandas(demo_csv), demo_schema, max_marginals=20, dcr_sample=0)
    assert json.dumps(same) != json.dumps(rep)


def test_gil_is_released_while_fitting(adult):
    data, schema = adult
    df = pd.read_csv(data)
    s = dpsynth.Synthesizer(schema, epsilon=1, mechanism="aim", rounds=3, progress=False)
    t = threading.Thread(target=s.fit, args=(df,))
    ticks = 0
    start = time.perf_counter()
    t.start()
    while t.is_alive():
        ticks += 1
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    assert s.model.mechanism == "aim"
    # Held GIL: the loop would wake about once (switch interval 5 ms, never granted while Rust
    # runs); released: about once a millisecond for the whole fit.
    assert elapsed > 0.2 and ticks > 0.2 * elapsed * 1000, (ticks, elapsed)


def test_aim_compute_budget_from_python(demo_csv, demo_schema, tmp_path):
    # A tiny compute budget for AIM's refits (billions of calibrated cells): the whole
    # budget is still spent, in fewer rounds, annealing at every refit (a handful of rho
    # levels, up to three rounds per refit), and the release verifies.
    rounds, levels = [], []
    for work in (None, 1e-6):
        s = dpsynth.Synthesizer(schema=demo_schema, epsilon=1.0, mechanism="aim", max_fit_work=work, progress=False)
        m = s.fit(read_pandas(demo_csv)).model
        assert abs(m.rho - dpsynth.budget(epsilon=1.0)["rho"]) <= 1e-9 * m.rho
        rhos = [e["rho"] for e in m.ledger if e["purpose"].startswith("AIM round") and e["mechanism"] == "gaussian"]
        rounds.append(len(rhos))
        levels.append(1 + sum(1 for a, b in zip(rhos, rhos[1:]) if a != b))
        rel = s.release(tmp_path / f"rel-{work}", seed=1, rows=100)
        assert dpsynth.verify(rel.directory)["ok"]
    assert rounds[1] < rounds[0], rounds
    assert levels[1] <= 6 and rounds[1] <= 3 * levels[1], (rounds, levels)
    with pytest.raises(dpsynth.DpsynthError, match="max-fit-work"):
        dpsynth.Synthesizer(schema=demo_schema, epsilon=1.0, mechanism="aim", max_fit_work=0.0, progress=False).fit(
            read_pandas(demo_csv)
        )


def test_aim_selections_per_refit_from_python(demo_csv, demo_schema, tmp_path):
    # One refit per round (the paper's AIM) from Python: the certificate lists it and the
    # release verifies; 0 is refused before any budget is spent.
    s = dpsynth.Synthesizer(schema=demo_schema, epsilon=1.0, mechanism="aim", selections_per_refit=1, progress=False)
    s.fit(read_pandas(demo_csv))
    rel = s.release(tmp_path / "rel", seed=1, rows=100)
    assert dpsynth.verify(rel.directory)["ok"]
    with open(os.path.join(rel.directory, "certificate.json")) as f:
        cert = json.load(f)
    assert cert["mechanism"]["options"]["selections_per_refit"] == 1
    with pytest.raises(dpsynth.DpsynthError, match="selections-per-refit"):
        dpsynth.Synthesizer(schema=demo_schema, epsilon=1.0, mechanism="aim", selections_per_refit=0, progress=False).fit(
            read_pandas(demo_csv)
        )
