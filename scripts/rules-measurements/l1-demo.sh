#!/bin/bash
# Demo admissions, epsilon 1: 1/2/3-way mean L1 with vs without rules, one line per run and the
# means (evaluated against the no-rules schema, as l1.sh). Run from the repository root after
# prepare.sh: bash scripts/rules-measurements/l1-demo.sh TAG aim|mst "SEEDS"
M=$(pwd); B=${DPSYNTH:-$M/target/release/dpsynth}; W=${WORK:-/tmp/r14}; cd $W
TAG=$1; MECH=$2; SEEDS=${3:-"11 12 13 14 15"}
ev() { $B evaluate --real $1 --synthetic $2/synthetic.csv --schema $3 --json --dcr-sample 0 --max-marginals 400 2>/dev/null | python3 -c "
import json,sys; d=json.load(sys.stdin); m={x['k']:x['mean_l1'] for x in d['fidelity']['marginals']}; print(' '.join('%.4f'%(m[k]) for k in sorted(m)))"; }
for v in rules norules; do
  S=$M/examples/data/admissions.schema.toml; [ $v = norules ] && S=$W/admissions-norules.toml
  for s in $SEEDS; do o=x-$TAG-$MECH-$v-$s
    nice -n 10 $B synth --data $M/examples/data/admissions.csv --schema $S --mechanism $MECH --epsilon 1 --seed $s --out $o --force >/dev/null 2>$o.err || { echo FAIL $o; tail -2 $o.err; }
    echo "$TAG $MECH $v $s $(ev $M/examples/data/admissions.csv $o $W/admissions-norules.toml)"
  done
done | tee -a $W/l1-demo.txt | awk '{print; k=$3; n[k]++; for(i=5;i<=7;i++) s[k,i]+=$i; q[k]+=$7*$7} END {for (k in n) printf "MEAN %s: 1w %.4f 2w %.4f 3w %.4f sd %.4f (n=%d)\n", k, s[k,5]/n[k], s[k,6]/n[k], s[k,7]/n[k], (n[k]>1 ? sqrt((q[k]-s[k,7]*s[k,7]/n[k])/(n[k]-1)) : 0), n[k]}'
