#!/usr/bin/env bash
# Render a kabucast HTML report in headless Chromium: a full-page PNG, and the console errors if any.
#
#   bench/screenshot_report.sh REPORT_HTML [OUT_PNG] [WIDTH,HEIGHT]
#   e.g. bench/screenshot_report.sh .kabucast/reports/evaluate-2026-11-20-ab12cd34/report.html /tmp/report.png
#
# Needs chromium (`apt-get update && apt-get install -y chromium`). Exit status 1 when the page logs a
# console error or an uncaught exception, or when no screenshot was written. Nothing leaves the machine:
# background networking, component updates and first-run fetches are off, the profile is a temporary folder.
set -euo pipefail

report=${1:?usage: $0 REPORT_HTML [OUT_PNG] [WIDTH,HEIGHT]}
out=${2:-/tmp/report.png}
size=${3:-1400,2400}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[[ -n "$browser" ]] || { echo "no chromium: apt-get update && apt-get install -y chromium" >&2; exit 2; }
[[ -f "$report" ]] || { echo "no such report: $report" >&2; exit 2; }

profile=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$profile" "$log"' EXIT
rm -f "$out"
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --no-first-run --user-data-dir="$profile" --enable-logging=stderr --v=0 --hide-scrollbars \
  --window-size="$size" --screenshot="$out" "file://$(realpath "$report")" 2>"$log" || true

errors=$(grep -E "Uncaught|ERROR:CONSOLE|Failed to load resource|:CONSOLE\([0-9]+\)\] .*[Ee]rror" "$log" || true)
if [[ ! -s "$out" ]]; then
  echo "no screenshot written; chromium said:" >&2
  cat "$log" >&2
  exit 1
fi
echo "screenshot: $out ($(stat -c %s "$out") bytes) of $report"
if [[ -n "$errors" ]]; then
  echo "console errors:" >&2
  echo "$errors" >&2
  exit 1
fi
echo "console: no errors"
