#!/bin/sh
# bench/cli.sh: the command-line tool's per-job overhead.
#
# Scenario "true": JOBS (1000) x /bin/true at 2 at a time, each job getting
# one argument (its input):
#   raw       raw posix_spawn + waitpid loop (build/bench/spawn_loop): the floor
#   forkpool  forkpool -j2 /bin/true :::: FILE
#   xargs     xargs -P2 -n1 /bin/true < FILE
#   moreutils moreutils' parallel -j2 /bin/true -- INPUTS   (if installed)
#   parallel  GNU parallel -j2 /bin/true :::: FILE         (if installed)
# Scenario "echo": ECHO_JOBS (10,000) x echo INPUT at -j2, output kept in
# input order where the tool can (forkpool -k, GNU parallel -k; xargs and
# moreutils' parallel cannot), into a file; forkpool's output is checked.
# Rounds interleave the tools, ROUNDS of them (5), so drift in machine load
# hits every tool alike. Prints measurement lines (bench/bench.h's output
# contract): median and min..max wall time per job, and forkpool's ratio
# to each other tool, round by round; bench/run.sh turns them into table
# rows with the goals (issue #12: forkpool within 1.1x of raw posix_spawn,
# no slower than xargs, at least 5x faster than GNU parallel).
#
#   sh bench/cli.sh              (builds build/forkpool and build/bench/spawn_loop)
#   JOBS=1000 ECHO_JOBS=10000 ROUNDS=5 BUILD=build sh bench/cli.sh
#   BENCH_QUICK=1 sh bench/cli.sh   (200 and 2000 jobs, 2 rounds: a smoke run)
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
case ${BENCH_QUICK:-0} in
'' | 0) JOBS=${JOBS:-1000} ECHO_JOBS=${ECHO_JOBS:-10000} ROUNDS=${ROUNDS:-${BENCH_ROUNDS:-5}} ;;
*) JOBS=${JOBS:-200} ECHO_JOBS=${ECHO_JOBS:-2000} ROUNDS=${ROUNDS:-${BENCH_ROUNDS:-2}} ;;
esac
PROG=/bin/true

make -s "$BUILD/forkpool" "$BUILD/bench/spawn_loop" >&2
FP=$BUILD/forkpool
RAW=$BUILD/bench/spawn_loop

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
seq 1 "$JOBS" >"$tmp/inputs"
seq 1 "$ECHO_JOBS" >"$tmp/echo_inputs"

have_parallel=0
if command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
    have_parallel=1
    mkdir "$tmp/home" # GNU parallel writes ~/.parallel
fi

# moreutils' parallel: /usr/bin/parallel.moreutils beside GNU parallel
# (Debian's parallel package diverts it), or `parallel` without GNU's.
MOREUTILS=
if command -v parallel.moreutils >/dev/null 2>&1; then
    MOREUTILS=parallel.moreutils
elif [ "$have_parallel" = 0 ] && command -v parallel >/dev/null 2>&1; then
    MOREUTILS=parallel
fi

now_ns() { date +%s%N; }

# run_one SCEN TOOL: runs one round of TOOL in scenario SCEN (true, echo);
# appends its wall time (ns) to $tmp/SCEN.TOOL.
run_one() {
    case $1 in
    true) in=$tmp/inputs n=$JOBS cmd=$PROG out=/dev/null k=-j2 ;;
    echo) in=$tmp/echo_inputs n=$ECHO_JOBS cmd=echo out=$tmp/out k=-k ;;
    esac
    t0=$(now_ns)
    case $2 in
    raw) "$RAW" "$n" 2 "$PROG" ;;
    forkpool) "$FP" "$k" -j2 "$cmd" :::: "$in" >"$out" ;;
    xargs) xargs -P2 -n1 "$cmd" <"$in" >"$out" ;;
    # shellcheck disable=SC2046 # one word per input, as the tool wants
    moreutils) "$MOREUTILS" -j2 "$cmd" -- $(cat "$in") >"$out" ;;
    parallel) HOME=$tmp/home parallel --will-cite "$k" -j2 "$cmd" :::: "$in" >"$out" ;;
    esac
    t1=$(now_ns)
    echo $((t1 - t0)) >>"$tmp/$1.$2"
    if [ "$1.$2" = echo.forkpool ] && ! cmp -s "$in" "$out"; then
        echo "bench/cli.sh: forkpool -k echo printed other than its inputs in order" >&2
        exit 1
    fi
}

tools="raw forkpool xargs"
[ -n "$MOREUTILS" ] && tools="$tools moreutils"
[ "$have_parallel" = 1 ] && tools="$tools parallel"
echo_tools=${tools#raw }

for scen in true echo; do
    if [ "$scen" = true ]; then list=$tools n=$JOBS cmd=$PROG; else list=$echo_tools n=$ECHO_JOBS cmd=echo; fi
    echo "bench/cli.sh: $n x $cmd at -j2, $ROUNDS interleaved rounds of: $list" >&2
    for t in $list; do run_one "$scen" "$t"; rm -f "$tmp/$scen.$t"; done # warm-up, not counted
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        for t in $list; do run_one "$scen" "$t"; done
        echo "  round $r done" >&2
        r=$((r + 1))
    done
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

# per_job SCEN TOOL JOBS: the rounds in microseconds per job, one a line
per_job() { awk -v jobs="$3" '{ printf "%.3f\n", $1 / jobs / 1000 }' "$tmp/$1.$2"; }

# label TOOL SCEN
label() {
    k=; [ "$2" = echo ] && k=" -k"
    case $1 in
    raw) echo "raw posix_spawn + waitpid loop" ;;
    forkpool) echo "forkpool$k -j2" ;;
    xargs) echo "xargs -P2 -n1" ;;
    moreutils) echo "moreutils' parallel -j2" ;;
    parallel) echo "GNU parallel$k -j2 ($(parallel --version | head -n 1 | sed 's/GNU parallel //'))" ;;
    esac
}

# Measurement lines (bench/bench.h's output contract): per tool, and the
# ratio of forkpool to each other tool computed round by round. Keys:
# cli.TOOL and cli.ratio_TOOL (true), cli.echo_TOOL and cli.echo_ratio_TOOL.
for scen in true echo; do
    if [ "$scen" = true ]; then list=$tools n=$JOBS cmd=$PROG pre=; else list=$echo_tools n=$ECHO_JOBS cmd=echo pre=echo_; fi
    for t in $list; do
        per_job "$scen" "$t" "$n" >"$tmp/$scen.$t.us"
        printf 'M\tcli.%s%s\t%s\tus/job\t%s, %s x %s\n' "$pre" "$t" "$(stats "$tmp/$scen.$t.us")" \
            "$(label "$t" "$scen")" "$n" "$cmd"
    done
    for t in $list; do
        [ "$t" = forkpool ] && continue
        paste "$tmp/$scen.forkpool" "$tmp/$scen.$t" | awk '{ print $1 / $2 }' >"$tmp/ratio"
        printf 'M\tcli.%sratio_%s\t%s\tx\t%s / %s, %s x %s\n' "$pre" "$t" \
            "$(stats "$tmp/ratio")" "$(label forkpool "$scen")" "$(label "$t" "$scen")" "$n" "$cmd"
    done
    for t in moreutils parallel; do
        case " $list " in *" $t "*) continue ;; esac
        what="GNU parallel"; [ "$t" = moreutils ] && what="moreutils' parallel"
        printf 'NA\tcli.%s%s\t%s not installed\n' "$pre" "$t" "$what"
        printf 'NA\tcli.%sratio_%s\t%s not installed\n' "$pre" "$t" "$what"
    done
done
