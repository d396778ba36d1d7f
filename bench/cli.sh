#!/bin/sh
# bench/cli.sh: the command-line tool's per-job overhead.
#
# 1000 x /bin/true at 2 at a time, each job getting one argument (its input):
#   A  raw posix_spawn + waitpid loop (build/bench/spawn_loop): the floor
#   B  forkpool -j2 /bin/true :::: FILE
#   C  xargs -P2 -n1 /bin/true < FILE
#   D  GNU parallel -j2 /bin/true :::: FILE   (if installed)
# Rounds interleave the tools (A B C D A B C D ...), ROUNDS of them (5), so
# drift in machine load hits every tool alike. Prints a markdown table: median
# and min..max wall time per job, the ratio of medians to the raw loop, and
# the goals (forkpool within 1.1x of raw posix_spawn, faster than xargs, at
# least 4x faster than GNU parallel).
#
#   sh bench/cli.sh              (builds build/forkpool and build/bench/spawn_loop)
#   JOBS=1000 ROUNDS=5 BUILD=build sh bench/cli.sh
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
JOBS=${JOBS:-1000}
ROUNDS=${ROUNDS:-5}
PROG=/bin/true

make -s "$BUILD/forkpool" "$BUILD/bench/spawn_loop" >&2
FP=$BUILD/forkpool
RAW=$BUILD/bench/spawn_loop

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
seq 1 "$JOBS" >"$tmp/inputs"

have_parallel=0
if command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
    have_parallel=1
    mkdir "$tmp/home" # GNU parallel writes ~/.parallel
fi

now_ns() { date +%s%N; }

# run_one TOOL: runs one round of TOOL; appends its wall time (ns) to $tmp/TOOL.
run_one() {
    case $1 in
    raw) t0=$(now_ns); "$RAW" "$JOBS" 2 "$PROG"; t1=$(now_ns) ;;
    forkpool) t0=$(now_ns); "$FP" -j2 "$PROG" :::: "$tmp/inputs"; t1=$(now_ns) ;;
    xargs) t0=$(now_ns); xargs -P2 -n1 "$PROG" <"$tmp/inputs"; t1=$(now_ns) ;;
    parallel)
        t0=$(now_ns)
        HOME=$tmp/home parallel --will-cite -j2 "$PROG" :::: "$tmp/inputs"
        t1=$(now_ns) ;;
    esac
    echo $((t1 - t0)) >>"$tmp/$1"
}

tools="raw forkpool xargs"
[ "$have_parallel" = 1 ] && tools="$tools parallel"

echo "bench/cli.sh: $JOBS x $PROG at -j2, $ROUNDS interleaved rounds of: $tools" >&2
for t in $tools; do run_one "$t"; rm -f "$tmp/$t"; done # warm-up, not counted
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for t in $tools; do run_one "$t"; done
    echo "  round $r done" >&2
    r=$((r + 1))
done

# stats TOOL: "median min max" per job, in microseconds
stats() {
    sort -n "$tmp/$1" | awk -v jobs="$JOBS" '
        { v[NR] = $1 }
        END {
            med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.1f %.1f %.1f\n", med / jobs / 1000, v[1] / jobs / 1000, v[NR] / jobs / 1000
        }'
}

set -- $(stats raw)
raw_med=$1

label() {
    case $1 in
    raw) echo "raw posix_spawn + waitpid loop" ;;
    forkpool) echo "forkpool -j2" ;;
    xargs) echo "xargs -P2 -n1" ;;
    parallel) echo "GNU parallel -j2 ($(parallel --version | head -n 1 | sed 's/GNU parallel //'))" ;;
    esac
}

fp_med=$(stats forkpool | cut -d' ' -f1)
echo
echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1), $(getconf _NPROCESSORS_ONLN) CPUs online; kernel $(uname -r)"
echo
echo "| $JOBS x $PROG, -j2 | median per job | min..max per job | vs raw posix_spawn | goal | met |"
echo "|---|---|---|---|---|---|"
for t in $tools; do
    set -- $(stats "$t")
    ratio=$(awk -v a="$1" -v b="$raw_med" 'BEGIN { printf "%.2fx", a / b }')
    case $t in
    raw) goal="(the floor)"; met="" ;;
    forkpool)
        goal="<= 1.10x raw"
        met=$(awk -v a="$1" -v b="$raw_med" 'BEGIN { print (a <= 1.10 * b) ? "yes" : "no" }') ;;
    xargs)
        goal="forkpool faster"
        met=$(awk -v f="$fp_med" -v x="$1" 'BEGIN { print (f < x) ? "yes" : "no" }') ;;
    parallel)
        goal="forkpool >= 4x faster"
        met=$(awk -v f="$fp_med" -v p="$1" 'BEGIN { printf "%s (%.1fx)", (p >= 4 * f) ? "yes" : "no", p / f }') ;;
    esac
    echo "| $(label "$t") | $1 us | $2..$3 us | $ratio | $goal | $met |"
done
[ "$have_parallel" = 1 ] || echo "| GNU parallel | not installed | | | | |"
