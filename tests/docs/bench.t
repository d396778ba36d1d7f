#!/bin/sh
# `make bench`'s scripts parse, and bench/run.sh's report turns measurement
# lines into the table: a row's figure, its baseline, the ratio measured
# round by round, the goal and whether it is met; rows whose program did not
# run say so. (The measurements themselves are `make bench`'s: too slow and
# too noisy for a test.) A quote in a row's text once ended run.sh's row
# list early, and `make bench` failed with a syntax error.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/cli/lib.sh"

for f in "$ROOT"/bench/*.sh; do
    ok "$(basename "$f") parses (sh -n)" sh -n "$f"
done

tmp=$T # lib.sh's, removed at exit
mkdir -p "$tmp/bench"
tab=$(printf '\t')
{
    echo "M${tab}fresh.forkpool${tab}130${tab}120${tab}140${tab}us/task${tab}FRESH"
    echo "M${tab}fresh.raw${tab}100${tab}90${tab}110${tab}us/task${tab}raw loop"
    echo "M${tab}fresh.ratio${tab}1.3${tab}1.2${tab}1.4${tab}x${tab}FRESH / raw"
    echo "M${tab}workers.lat${tab}30${tab}29${tab}31${tab}us/task${tab}round trips"
    echo "M${tab}workers.raw_lat${tab}27${tab}26${tab}28${tab}us/task${tab}raw round trips"
    echo "M${tab}workers.ratio_lat${tab}1.1${tab}1.05${tab}1.2${tab}x${tab}WORKERS / raw"
    echo "P${tab}fresh${tab}ok"
    echo "P${tab}workers${tab}ok"
    echo "P${tab}map${tab}skipped"
} >"$tmp/bench/measurements.tsv"
printf 'machine: test\nkernel: k\ndate: d\nrun: measured run\n' >"$tmp/bench/machine.txt"

(cd "$ROOT" && BUILD=$tmp CHART=$tmp/bench/c.svg sh bench/run.sh --report) >"$tmp/out" 2>"$tmp/err"
is "$?" 0 "run.sh --report exits 0"
empty "$tmp/err" "and says nothing on stderr"
row() { grep -F "| $1 |" "$tmp/out" | head -n 1; }
is "$(row '1000 empty tasks, FRESH, vs raw fork+pipe+waitpid loop')" \
    "| 1000 empty tasks, FRESH, vs raw fork+pipe+waitpid loop | 130 us/task (120..140) | 100 us/task (90.0..110) | 1.30 (1.20..1.40) | ratio <= 1.15 | NO |" \
    "a missed goal: figure, baseline, the round-by-round ratio, NO"
is "$(grep -F '20,000 empty tasks one at a time' "$tmp/out" | sed 's/.* | \([^|]*\) | \([^|]*\) |$/\1 | \2/')" \
    "ratio <= 1.2 | yes" "a met goal: yes"
is "$(grep -c '^| [^|]* | not run |' "$tmp/out")" "$(grep -c '^[a-z0-9_]*|map|' "$ROOT/bench/run.sh")" \
    "every row of a program that did not run says not run"
is "$(wc -l <"$tmp/bench/results.tsv")" "$(grep -c '^| ' "$tmp/out")" \
    "results.tsv: a header and a line per row of the table"
done_testing
