"""Overhead of the Python package over the CLI, measured side by side on adult.

    python python/bench/overhead.py [--runs 3] [--mechanisms mst,aim]

For each mechanism, alternating runs of
  * the CLI:     dpsynth synth --data adult.csv ... --out DIR   (reads the CSV, fits, samples,
                 writes the certified release)
  * Python fit:  Synthesizer.fit(pandas DataFrame) + sample(default rows), the frame already
                 in memory (what a notebook user waits for)
  * Python release: the same, then Synthesizer.release(DIR) instead of sample (the CLI's work)
Prints per-run wall times and CPU seconds (user + system: the CLI's from its child process, the
Python runs' from this process, every thread included) and their medians. CPU seconds are the
figure to compare on a loaded machine. Timings include the mechanism's noise, so runs vary;
compare medians over several runs.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import dpsynth

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mechanisms", default="mst,aim")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "adult" / "adult.csv"))
    ap.add_argument("--schema", default=str(REPO.parent / "shared" / "data" / "adult" / "adult-domain.json"))
    ap.add_argument("--cli", default=os.environ.get("DPSYNTH_CLI", str(REPO / "target" / "release" / "dpsynth")))
    a = ap.parse_args()
    df = pd.read_csv(a.data)
    tmp = Path(tempfile.mkdtemp(prefix="dpsynth-overhead-"))

    def cpu(who: int) -> float:
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    for mech in a.mechanisms.split(","):
        times = {"cli synth": [], "python fit+sample": [], "python fit+release": []}
        cpus = {k: [] for k in times}
        for r in range(a.runs):
            t, c = time.perf_counter(), cpu(resource.RUSAGE_CHILDREN)
            subprocess.run([a.cli, "synth", "--data", a.data, "--schema", a.schema, "--epsilon", "1",
                            "--mechanism", mech, "--out", str(tmp / f"cli-{mech}-{r}"), "--quiet"],
                           check=True, capture_output=True)
            times["cli synth"].append(time.perf_counter() - t)
            cpus["cli synth"].append(cpu(resource.RUSAGE_CHILDREN) - c)

            t, c = time.perf_counter(), cpu(resource.RUSAGE_SELF)
            s = dpsynth.Synthesizer(a.schema, epsilon=1, mechanism=mech, progress=False).fit(df)
            s.sample()
            times["python fit+sample"].append(time.perf_counter() - t)
            cpus["python fit+sample"].append(cpu(resource.RUSAGE_SELF) - c)

            t, c = time.perf_counter(), cpu(resource.RUSAGE_SELF)
            s = dpsynth.Synthesizer(a.schema, epsilon=1, mechanism=mech, progress=False).fit(df)
            s.release(tmp / f"py-{mech}-{r}")
            times["python fit+release"].append(time.perf_counter() - t)
            cpus["python fit+release"].append(cpu(resource.RUSAGE_SELF) - c)
            print(mech, r, {k: (round(v[-1], 3), round(cpus[k][-1], 3)) for k, v in times.items()}, "(wall s, cpu s)", flush=True)
        cli = statistics.median(times["cli synth"])
        cli_cpu = statistics.median(cpus["cli synth"])
        for k, v in times.items():
            m = statistics.median(v)
            mc = statistics.median(cpus[k])
            print(
                f"{mech:4} {k:20} median {m:7.3f} s wall ({(m / cli - 1) * 100:+.1f}% vs CLI), "
                f"{mc:7.3f} s cpu ({(mc / cli_cpu - 1) * 100:+.1f}% vs CLI)  runs {[round(x, 2) for x in v]}"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
