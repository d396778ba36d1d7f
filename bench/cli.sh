#!/bin/sh
# bench/cli.sh: the command-line tool's per-job overhead.
#
# 1000 x /bin/true at 2 at a time, each job getting one argument (its input):
#   A  raw posix_spawn + waitpid loop (build/bench/spawn_loop): the floor
#   B  forkpool -j2 /bin/true :::: FILE
#   C  xargs -P2 -n1 /bin/true < FILE
#   D  GNU parallel -j2 /bin/true :::: FILE   (if installed)
# Rounds interleave the tools (A B C D A B C D ...), ROUNDS of them (5), so
# drift in machine load hits every tool alike. Prints measurement lines
# (bench/bench.h's output contract): median and min..max wall time per job,
# and forkpool's ratio to each other tool, round by round; bench/run.sh
# turns them into table rows with the goals (forkpool within 1.1x of raw
# posix_spawn, faster than xargs, at least 4x faster than GNU parallel).
#
#   sh bench/cli.sh              (builds build/forkpool and build/bench/spawn_loop)
#   JOBS=1000 ROUNDS=5 BUILD=build sh bench/cli.sh
#   BENCH_QUICK=1 sh bench/cli.sh   (200 jobs, 2 rounds: a smoke run)
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
case ${BENCH_QUICK:-0} in
'' | 0) JOBS=${JOBS:-1000} ROUNDS=${ROUNDS:-${BENCH_ROUNDS:-5}} ;;
*) JOBS=${JOBS:-200} ROUNDS=${ROUNDS:-${BENCH_ROUNDS:-2}} ;;
esac
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

# stats FILE: "median min max" of the numbers in FILE (one a line)
stats() {
    sort -g "$1" | awk '
        { v[NR] = $1 }
        END {
            med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.4g\t%.4g\t%.4g\n", med, v[1], v[NR]
        }'
}

# per_job TOOL: TOOL's rounds in microseconds per job, one a line
per_job() { awk -v jobs="$JOBS" '{ printf "%.3f\n", $1 / jobs / 1000 }' "$tmp/$1"; }

label() {
    case $1 in
    raw) echo "raw posix_spawn + waitpid loop" ;;
    forkpool) echo "forkpool -j2" ;;
    xargs) echo "xargs -P2 -n1" ;;
    parallel) echo "GNU parallel -j2 ($(parallel --version | head -n 1 | sed 's/GNU parallel //'))" ;;
    esac
}

# Measurement lines (bench/bench.h's output contract): per tool, and the
# ratio of forkpool to each other tool computed round by round.
for t in $tools; do
    per_job "$t" >"$tmp/$t.us"
    printf 'M\tcli.%s\t%s\tus/job\t%s, %s x %s\n' "$t" "$(stats "$tmp/$t.us")" \
        "$(label "$t")" "$JOBS" "$PROG"
done
for t in $tools; do
    [ "$t" = forkpool ] && continue
    paste "$tmp/forkpool" "$tmp/$t" | awk '{ print $1 / $2 }' >"$tmp/ratio"
    printf 'M\tcli.ratio_%s\t%s\tx\tforkpool -j2 / %s\n' "$t" "$(stats "$tmp/ratio")" \
        "$(label "$t")"
done
if [ "$have_parallel" = 0 ]; then
    printf 'NA\tcli.parallel\tGNU parallel not installed\n'
    printf 'NA\tcli.ratio_parallel\tGNU parallel not installed\n'
fi
