#!/usr/bin/env bash
# Runs one fuzz target (or all three, one after another) with the settings the reliability
# checks use. Usage, from the repository root:
#   fuzz/run.sh schema_parse 600      # one target, 600 s
#   fuzz/run.sh all 600               # every target, 600 s each, sequentially
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain RUSTC_BOOTSTRAP=1
# lets cargo-fuzz pass its nightly-only sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run.sh <schema_parse|csv_encode|csv_roundtrip|all> [seconds]}
secs=${2:-600}
if [ "$target" = all ]; then
    for t in schema_parse csv_encode csv_roundtrip; do "$0" "$t" "$secs"; done
    exit 0
fi
export RUSTC_BOOTSTRAP=1
mkdir -p "fuzz/corpus/$target"
extra=()
case "$target" in
    # Raw schema text: seed with the shipped schemas, guide with the schema dictionary.
    schema_parse)
        seeds=fuzz/corpus/schema_parse_seeds
        mkdir -p "$seeds"
        cp examples/data/*.schema.toml examples/nist/*.schema.toml "$seeds"/
        extra=("$seeds" -dict=fuzz/schema.dict -max_len=8192)
        ;;
    # Structured input (arbitrary): start at full length rather than growing slowly.
    csv_encode | csv_roundtrip) extra=(-max_len=4096 -len_control=0) ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac
# Corpus directories come first; libFuzzer flags follow the corpus list.
dirs=("fuzz/corpus/$target")
flags=()
for a in "${extra[@]}"; do
    if [[ $a == -* ]]; then flags+=("$a"); else dirs+=("$a"); fi
done
exec cargo fuzz run "$target" "${dirs[@]}" -- \
    -rss_limit_mb=2048 -timeout=10 -max_total_time="$secs" -print_final_stats=1 "${flags[@]}"
