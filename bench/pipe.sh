#!/bin/sh
# bench/pipe.sh: --pipe and --pipepart throughput (issue #12): `wc -l` over
# a file of PIPE_MB MiB (default 1024; BENCH_QUICK=1: 100) at -j2, with
# each tool's default block size:
#   forkpool --pipe -j2 wc -l < FILE        GNU parallel --pipe -j2 wc -l < FILE
#   forkpool --pipepart -a FILE -j2 wc -l   GNU parallel --pipepart -a FILE -j2 wc -l
#   forkpool --pipe --tee wc {} ::: -l -l < FILE  GNU parallel, the same (every
#                                          job reads all of it: 2 x the MiB)
# Rounds interleave the tools, ROUNDS of them (3; quick: 1), after one
# warm-up round that also checks every tool counted every line. Prints
# measurement lines (bench/bench.h's output contract): MB/s (MiB of input
# per second of wall time) per tool, and forkpool's ratio to GNU parallel
# round by round (higher is better; issue #12's goal: >= 2).
#
#   sh bench/pipe.sh                 (builds build/forkpool)
#   PIPE_MB=100 ROUNDS=1 sh bench/pipe.sh
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
case ${BENCH_QUICK:-0} in
'' | 0) PIPE_MB=${PIPE_MB:-1024} ROUNDS=${ROUNDS:-${BENCH_ROUNDS:-3}} ;;
*) PIPE_MB=${PIPE_MB:-100} ROUNDS=${ROUNDS:-${BENCH_ROUNDS:-1}} ;;
esac

make -s "$BUILD/forkpool" >&2
FP=$BUILD/forkpool

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# Lines of 32 bytes, as many as fill PIPE_MB MiB.
awk 'BEGIN { for (i = 0; i < 2048; i++) printf "%031d\n", i * 7919 }' >"$tmp/chunk"
n=0
while [ $n -lt $((PIPE_MB * 16)) ]; do cat "$tmp/chunk"; n=$((n + 1)); done >"$tmp/data"
LINES=$((PIPE_MB * 16 * 2048))

have_parallel=0
if command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
    have_parallel=1
    mkdir "$tmp/home" # GNU parallel writes ~/.parallel
fi

now_ns() { date +%s%N; }

# run_one TOOL: one round of TOOL; appends its wall time (ns) to $tmp/TOOL
# and checks the line counts add up.
run_one() {
    t0=$(now_ns)
    case $1 in
    fp_pipe) "$FP" --pipe -j2 wc -l <"$tmp/data" >"$tmp/out" ;;
    fp_part) "$FP" --pipepart -a "$tmp/data" -j2 wc -l >"$tmp/out" ;;
    fp_tee) "$FP" --pipe --tee wc {} ::: -l -l <"$tmp/data" >"$tmp/out" ;;
    par_pipe) HOME=$tmp/home parallel --will-cite --pipe -j2 wc -l <"$tmp/data" >"$tmp/out" ;;
    par_part) HOME=$tmp/home parallel --will-cite --pipepart -a "$tmp/data" -j2 wc -l >"$tmp/out" ;;
    par_tee)
        HOME=$tmp/home parallel --will-cite --pipe --tee wc {} ::: -l -l <"$tmp/data" >"$tmp/out"
        ;;
    esac
    t1=$(now_ns)
    got=$(awk '{ n += $1 } END { print n + 0 }' "$tmp/out")
    want=$LINES
    case $1 in *_tee) want=$((2 * LINES)) ;; esac
    if [ "$got" != "$want" ]; then
        echo "bench/pipe.sh: $1 counted $got lines of $want" >&2
        exit 1
    fi
    echo $((t1 - t0)) >>"$tmp/$1"
}

tools="fp_pipe fp_part fp_tee"
[ "$have_parallel" = 1 ] && tools="$tools par_pipe par_part par_tee"

echo "bench/pipe.sh: wc -l over $PIPE_MB MiB at -j2, $ROUNDS interleaved rounds of: $tools" >&2
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

# mbs TOOL: TOOL's rounds in MiB/s, one a line
mbs() { awk -v mb="$PIPE_MB" '{ printf "%.3f\n", mb / ($1 / 1e9) }' "$tmp/$1"; }

pv=
[ "$have_parallel" = 1 ] && pv=$(parallel --version | head -n 1 | sed 's/GNU parallel //')
for kind in pipe part tee; do
    key=$kind
    [ "$kind" = part ] && key=pipepart
    mbs "fp_$kind" >"$tmp/fp.mbs"
    what="--$key -j2 wc -l"
    [ "$kind" = tee ] && what="--pipe --tee wc {} ::: -l -l (MiB read once)"
    printf 'M\t%s.forkpool\t%s\tMB/s\tforkpool %s, %s MiB\n' "$key" \
        "$(stats "$tmp/fp.mbs")" "$what" "$PIPE_MB"
    if [ "$have_parallel" = 0 ]; then
        printf 'NA\t%s.parallel\tGNU parallel not installed\n' "$key"
        printf 'NA\t%s.ratio\tGNU parallel not installed\n' "$key"
        continue
    fi
    mbs "par_$kind" >"$tmp/par.mbs"
    printf 'M\t%s.parallel\t%s\tMB/s\tGNU parallel %s %s, %s MiB\n' "$key" \
        "$(stats "$tmp/par.mbs")" "$pv" "$what" "$PIPE_MB"
    paste "$tmp/fp.mbs" "$tmp/par.mbs" | awk '{ print $1 / $2 }' >"$tmp/ratio"
    printf 'M\t%s.ratio\t%s\tx\tforkpool / GNU parallel MB/s\n' "$key" "$(stats "$tmp/ratio")"
done
