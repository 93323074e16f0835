#!/bin/bash
# NIST national2019 with vs without the 12 dictionary rules: 1/2/3-way mean L1 per run (against
# the no-rules schema, as l1.sh), wall and user+sys CPU seconds, then means and the 3-way sd.
# Runs alternate rules / no rules seed by seed (same machine load). Run from the repository
# root after prepare.sh: bash scripts/rules-measurements/l1-nist.sh TAG mst|aim EPS "SEEDS"
M=$(pwd); D=${DATA:-$M/../shared/data}; B=${DPSYNTH:-$M/target/release/dpsynth}; W=${WORK:-/tmp/r14}; cd $W
TAG=$1; MECH=$2; EPS=${3:-1}; SEEDS=${4:-"11 12 13 14 15"}
ev() { $B evaluate --real $1 --synthetic $2/synthetic.csv --schema $3 --json --dcr-sample 0 --max-marginals 400 2>/dev/null | python3 -c "
import json,sys; d=json.load(sys.stdin); m={x['k']:x['mean_l1'] for x in d['fidelity']['marginals']}; print(' '.join('%.4f'%(m[k]) for k in sorted(m)))"; }
for s in $SEEDS; do for v in rules norules; do
  S=$W/nist-rules.toml; [ $v = norules ] && S=$W/nist-norules.toml
  o=n-$TAG-$MECH-$EPS-$v-$s
  /usr/bin/time -f "%e %U %S" -o $o.time nice -n 10 $B synth --data $D/nist_crc/national2019.csv --schema $S --mechanism $MECH --epsilon $EPS --seed $s --out $o --force >/dev/null 2>$o.err || { echo FAIL $o; tail -2 $o.err; }
  read wall user sys < $o.time
  echo "$TAG $MECH-$EPS $v $s $(ev $D/nist_crc/national2019.csv $o $W/nist-norules.toml) wall=$wall cpu=$(echo "$user + $sys" | bc) load=$(cut -d' ' -f1 /proc/loadavg)"
done; done | tee -a $W/l1-nist.txt | awk '{print; k=$3; n[k]++; for(i=5;i<=7;i++) s[k,i]+=$i; q[k]+=$7*$7} END {for (k in n) printf "MEAN %s: 1w %.4f 2w %.4f 3w %.4f sd %.4f (n=%d)\n", k, s[k,5]/n[k], s[k,6]/n[k], s[k,7]/n[k], (n[k]>1 ? sqrt((q[k]-s[k,7]*s[k,7]/n[k])/(n[k]-1)) : 0), n[k]}'
