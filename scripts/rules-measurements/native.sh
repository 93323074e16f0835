#!/bin/bash
# Each bins.sh release scored at its OWN schema's bins (`dpsynth evaluate`: hand bins for
# "hand", the automatic fine grid for the others): mean 1-, 2- and 3-way L1 over all marginals.
# Usage (repository root): bash scripts/rules-measurements/native.sh hand auto2
M=$(pwd); D=${DATA:-$M/../shared/data}; B=${DPSYNTH:-$M/target/release/dpsynth}; W=${WORK:-/tmp/r14}
for v in "$@"; do
  if [ $v = hand ]; then S=$W/nist-norules.toml; else S=$W/nist-auto2.toml; fi
  for seed in 21 22 23 24 25; do
    $B evaluate --real $D/nist_crc/national2019.csv --synthetic $W/bins-$v-$seed/synthetic.csv \
      --schema $S --json --dcr-sample 0 2>/dev/null
  done | python3 -c "
import json, sys, statistics
dec = json.JSONDecoder(); text = sys.stdin.read(); i = 0; per = {1: [], 2: [], 3: []}
while i < len(text):
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    v, i = dec.raw_decode(text, i)
    for m in v['fidelity']['marginals']: per[m['k']].append(m['mean_l1'])
print('$v', ' '.join('%d-way %.4f' % (k, statistics.fmean(x)) for k, x in per.items() if x), '(%d runs)' % len(per[1]))
"
done
