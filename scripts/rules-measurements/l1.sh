#!/bin/bash
# 3-way L1 with vs without rules, 5 runs each; evaluated against the no-rules schema.
M=$(pwd); D=${DATA:-$M/../shared/data}; B=${DPSYNTH:-$M/target/release/dpsynth}; W=${WORK:-/tmp/r14}; mkdir -p $W; cd $W
ev() { $B evaluate --real $1 --synthetic $2/synthetic.csv --schema $3 --json --dcr-sample 0 --max-marginals 400 2>/dev/null | python3 -c "
import json,sys; d=json.load(sys.stdin); m={x['k']:x['mean_l1'] for x in d['fidelity']['marginals']}; print(' '.join('%d:%.4f'%(k,m[k]) for k in sorted(m)))"; }
for mech in mst aim; do for variant in rules norules; do for seed in 11 12 13 14 15; do
  if [ $variant = rules ]; then S=$M/examples/data/admissions.schema.toml; else S=$W/admissions-norules.toml; fi
  o=l1-demo-$mech-$variant-$seed
  nice -n 5 $B synth --data $M/examples/data/admissions.csv --schema $S --mechanism $mech --epsilon 1 --seed $seed --out $o --force >/dev/null 2>&1
  echo "demo $mech $variant $seed $(ev $M/examples/data/admissions.csv $o $W/admissions-norules.toml)" >> l1.txt
done; done; done
for variant in rules norules; do for seed in 11 12 13 14 15; do
  if [ $variant = rules ]; then S=$W/nist-rules.toml; else S=$W/nist-norules.toml; fi
  o=l1-nist-mst-$variant-$seed
  nice -n 5 $B synth --data $D/nist_crc/national2019.csv --schema $S --mechanism mst --epsilon 1 --seed $seed --out $o --force >/dev/null 2>&1
  echo "nist mst $variant $seed $(ev $D/nist_crc/national2019.csv $o $W/nist-norules.toml)" >> l1.txt
done; done
echo DONE >> l1.txt
