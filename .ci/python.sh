#!/usr/bin/env bash
# The Python package's CI steps (called by .ci/run after cargo test; runnable on its own):
# a virtual environment with maturin, pytest, pandas, polars, pyarrow, pyspark and tqdm from
# PyPI, a headless JRE from the distribution when java is missing (Spark's local mode), the
# package built into the environment, then the README's Python test command. Under CI=true
# the Spark tests fail instead of skipping when Spark cannot start.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v java >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null
fi
VENV="${DPSYNTH_VENV:-$PWD/target/ci-venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q maturin pytest pandas polars pyarrow pyspark tqdm
# The package (debug profile: the dependencies are optimised by [profile.dev.package."*"]
# and already built by cargo test) and the CLI the tests compare against.
cargo build --bin dpsynth
(cd python && VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" maturin develop --quiet)
# The README's Python test command:
DPSYNTH_CLI="$PWD/target/debug/dpsynth" "$VENV/bin/python" -m pytest python/tests -rs
