#!/bin/bash
# 20 releases with rules: demo admissions (12) and NIST national2019 with dictionary rules (8).
M=$(pwd); D=${DATA:-$M/../shared/data}; B=${DPSYNTH:-$M/target/release/dpsynth}
W=${WORK:-/tmp/r14}; mkdir -p $W; cd $W
run() { # name data schema mech eps seed
  local out=$W/$1
  local t0=$(date +%s.%N)
  nice -n 5 $B synth --data $2 --schema $3 --mechanism $4 --epsilon $5 --seed $6 --out $out --force --json > $out.json 2> $out.err
  local rc=$?
  local t1=$(date +%s.%N)
  $B schema check $3 --data $out/synthetic.csv > $out.check 2>&1
  echo "$1 rc=$rc secs=$(echo "$t1 - $t0" | bc) check=$(tail -1 $out.check)" >> $W/summary.txt
}
for mech in mst aim; do for eps in 0.3 1 3; do for seed in 1 2; do
  run demo-$mech-$eps-$seed $M/examples/data/admissions.csv $M/examples/data/admissions.schema.toml $mech $eps $seed
done; done; done
for eps in 0.3 1 3; do for seed in 1 2; do
  run nist-mst-$eps-$seed $D/nist_crc/national2019.csv $W/nist-rules.toml mst $eps $seed
done; done
for seed in 1 2; do
  run nist-aim-0.3-$seed $D/nist_crc/national2019.csv $W/nist-rules.toml aim 0.3 $seed
done
echo DONE >> $W/summary.txt
