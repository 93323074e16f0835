#!/usr/bin/env bash
# Renders an evaluation report to PNG in headless Chromium and fails if the page logs any
# console message. The report runs no script, so every console message is the browser
# reporting a problem: a script error ("Uncaught ..."), a load blocked by the report's
# Content-Security-Policy, a missing resource.
#
# Usage: scripts/render-report.sh [REPORT.html] [OUT.png]
#   Without REPORT, builds one from adult (../shared/data) with
#   `cargo run --release --example eval_report` into a temporary folder.
#   OUT defaults to a temporary file; its path is printed. Nothing is written into the repo.
#
# Needs chromium (Debian: apt-get install -y chromium).
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work/profile"' EXIT

report=${1:-}
out=${2:-$work/report.png}
if [[ -z "$report" ]]; then
    report=$work/report.html
    cargo run --quiet --release --example eval_report -- "$report" \
        "example guarantee text: 0.5-zCDP, (epsilon 4.2, delta 1e-9)-DP, add/remove one record"
fi
[[ -f "$report" ]] || { echo "no such report: $report" >&2; exit 1; }

chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[[ -n "$chrome" ]] || { echo "chromium not found (apt-get install -y chromium)" >&2; exit 1; }

log=$work/chromium.log
mkdir -p "$work/profile"
# --enable-logging=stderr --v=0 makes Chromium print the page's console messages to stderr as
# `[pid:tid:time:INFO:CONSOLE:line] "message", source: ...` (every level logs as INFO).
"$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --enable-logging=stderr --v=0 \
    --screenshot="$out" --window-size=1280,2000 \
    "file://$(realpath "$report")" 2>"$log" || { cat "$log" >&2; echo "chromium failed" >&2; exit 1; }

[[ -s "$out" ]] || { cat "$log" >&2; echo "no screenshot written" >&2; exit 1; }
if grep -E ":CONSOLE[:(]|Uncaught|net::ERR_" "$log" >&2; then
    echo "console errors while rendering $report (full log: $log)" >&2
    exit 1
fi
echo "rendered $report -> $out without console errors"
