#!/usr/bin/env bash
# Times private-pgm's MST and AIM (mbi) beside dpsynth's on adult, epsilon 1, in one run,
# and prints the ratios (issue #16 item 4). Not run in CI.
#
#   scripts/bench-peers.sh PYTHON PGM_DIR [EPSILON] [RUNS]
#
# PYTHON: a Python with mbi and what the mechanism scripts import. The scripts follow the
#   repository's mbi, not always PyPI's (mbi 2.0.0 on PyPI lacks the `Dataset.load` they
#   call), so install mbi from the same checkout:
#   `python3 -m venv v && v/bin/pip install PGM_DIR networkx matplotlib` and then, because
#   private-pgm's current checkout (4d2b3c5) breaks with today's newest releases (jax 0.10:
#   "DynamicJaxprTracer has no attribute domain"; pandas 3: KeyError in synthetic_data's
#   groupby), `v/bin/pip install jax==0.4.38 jaxlib==0.4.38 "chex<0.1.90" "optax<0.2.5"
#   "pandas<2.3" "numpy<2.3"` (the set measured on 2026-12-01).
# PGM_DIR: a checkout of private-pgm (github.com/ryan112358/private-pgm): its
#   mechanisms/mst.py and mechanisms/aim.py are the reference mechanisms (they are not part
#   of the mbi package on PyPI). Override with MBI_MST=... / MBI_AIM=... (scripts taking
#   --dataset --domain --epsilon --delta --save). Set SKIP_AIM=1 to skip mbi's AIM (it ran
#   629 s and 4.6 GB on this kind of machine before crashing).
# dpsynth: target/release/dpsynth (`cargo build --release` first) or $DPSYNTH.
# Wall time and peak RSS come from /usr/bin/time; run on an idle machine for comparable
# figures.
set -euo pipefail
PY=${1:?usage: bench-peers.sh PYTHON PGM_DIR [EPSILON] [RUNS]}
PGM=${2:?usage: bench-peers.sh PYTHON PGM_DIR [EPSILON] [RUNS]}
EPS=${3:-1}
RUNS=${4:-1}
HERE=$(cd "$(dirname "$0")/.." && pwd)
DATA=${ADULT_DIR:-$HERE/../shared/data/adult}
DPSYNTH=${DPSYNTH:-$HERE/target/release/dpsynth}
MST=${MBI_MST:-$PGM/mechanisms/mst.py}
AIM=${MBI_AIM:-$PGM/mechanisms/aim.py}
for f in "$DATA/adult.csv" "$DATA/adult-domain.json" "$DPSYNTH" "$MST"; do
  [ -e "$f" ] || { echo "missing: $f" >&2; exit 1; }
done
"$PY" -c 'import mbi' || { echo "$PY cannot import mbi" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Runs a command RUNS times; prints "mean_wall_s max_rss_mb".
timed() {
  local total=0 rss=0 i
  for ((i = 0; i < RUNS; i++)); do
    /usr/bin/time -f '%e %M' -o "$TMP/t" "$@" > "$TMP/log" 2>&1 || {
      echo "failed: $*" >&2; tail -5 "$TMP/log" >&2; echo "nan nan"; return; }
    read -r w m < "$TMP/t"
    total=$(echo "$total + $w" | bc -l)
    (( m > rss )) && rss=$m
  done
  echo "$(echo "$total / $RUNS" | bc -l) $((rss / 1024))"
}

ours() {
  timed "$DPSYNTH" synth --mechanism "$1" --data "$DATA/adult.csv" \
    --schema "$DATA/adult-domain.json" --epsilon "$EPS" --delta 1e-9 -q --force \
    --out "$TMP/ours-$1"
}
theirs() {
  timed "$PY" "$2" --dataset "$DATA/adult.csv" --domain "$DATA/adult-domain.json" \
    --epsilon "$EPS" --delta 1e-9 --save "$TMP/theirs-$1.csv"
}

printf '%-5s %14s %14s %14s %14s %9s\n' mech "dpsynth s" "dpsynth MB" "mbi s" "mbi MB" "ratio"
for mech in mst aim; do
  if [ "$mech" = aim ] && { [ "${SKIP_AIM:-0}" = 1 ] || [ ! -e "$AIM" ]; }; then
    continue
  fi
  script=$MST; [ "$mech" = aim ] && script=$AIM
  read -r ow om <<< "$(ours $mech)"
  read -r tw tm <<< "$(theirs $mech "$script")"
  if [ "$tw" = nan ]; then
    printf '%-5s %14.2f %14s %14s %14s %9s\n' "$mech" "$ow" "$om" failed - -
    continue
  fi
  ratio=$(echo "$tw / $ow" | bc -l)
  printf '%-5s %14.2f %14s %14.2f %14s %8.0fx\n' "$mech" "$ow" "$om" "$tw" "$tm" "$ratio"
done
echo "adult, epsilon $EPS, delta 1e-9, $RUNS run(s) each; ratio = mbi wall / dpsynth wall"
