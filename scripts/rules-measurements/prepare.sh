#!/bin/bash
# Variant schemas for the #14 measurements, written into $WORK (default /tmp/r14).
# Run from the repository root: bash scripts/rules-measurements/prepare.sh
set -e
M=$(pwd); W=${WORK:-/tmp/r14}; mkdir -p $W
python3 - "$M" "$W" <<'PY'
import sys
M, W = sys.argv[1], sys.argv[2]
s = open(f'{M}/examples/data/admissions.schema.toml').read()
open(f'{W}/admissions-norules.toml', 'w').write(s[:s.index('[[rules]]')])
nist = open(f'{M}/examples/nist/national2019.schema.toml').read()
if '[[rules]]' not in nist:
    nist += open(f'{M}/scripts/rules-measurements/nist-rules.toml').read()
open(f'{W}/nist-rules.toml', 'w').write(nist)
base = nist[:nist.index('[[rules]]')] if '[[rules]]' in nist else nist
def sub(s, col, repl):
    i = s.index('name = "%s"' % col); j = s.index('bin_edges', i); k = s.index('\n', j)
    return s[:j] + repl + s[k:]
a = base
for col in ['AGEP', 'PINCP']:
    a = sub(a, col, 'bins = "auto"')
a = sub(a, 'POVPIP', 'bins = "auto"')
a = a.replace('max = 501\nbins = "auto"', 'max = 500\nspecials = [501]\nbins = "auto"')
for col in ['DENSITY', 'PWGTP']:
    a = sub(a, col, 'bins = "auto"\nbin_scale = "log"')
open(f'{W}/nist-auto2.toml', 'w').write(a)
open(f'{W}/nist-norules.toml', 'w').write(base)
PY
echo "variant schemas in $W"
