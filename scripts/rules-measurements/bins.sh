#!/bin/bash
M=$(pwd); D=${DATA:-$M/../shared/data}; B=${DPSYNTH:-$M/target/release/dpsynth}; W=${WORK:-/tmp/r14}; mkdir -p $W; cd $W
for v in ${VARIANTS:-hand auto2}; do for seed in 21 22 23 24 25; do
  if [ $v = hand ]; then S=$W/nist-norules.toml; else S=$W/nist-auto2.toml; fi
  nice -n 5 $B synth --data $D/nist_crc/national2019.csv --schema $S --mechanism mst --epsilon 1 --seed $seed --out bins-$v-$seed --force >/dev/null 2>bins-$v-$seed.err
  echo "$v $seed rc=$?" >> bins.txt
done; done; echo DONE >> bins.txt
