#!/bin/sh
# bench/run.sh: runs the benchmarks `make bench` built into $BUILD/bench/,
# prints one table (row, our figure, baseline, ratio, goal, met?) with every
# row of issue #3's list, writes it to $BUILD/bench/results.tsv and, when
# gnuplot is installed, draws it as a chart ($CHART, default
# $BUILD/bench/bench.svg). Builds nothing but what bench/cli.sh builds.
#
#   make bench                          the measured run (a few minutes)
#   make bench BENCH_QUICK=1            a smoke run: fewer tasks and rounds
#   make bench CHART=docs/bench.svg     also refresh the chart in the docs
#   BENCH_ONLY="fresh workers" sh bench/run.sh   only these programs
#   BENCH_ONLY=mpi sh bench/run.sh      only FORKPOOL_MPI's rows (under mpirun)
#   sh bench/run.sh --report            table and chart again from the last
#                                       run's measurements, measuring nothing
#
# Programs print measurement lines (bench/bench.h's output contract):
# "M key median min max unit what" or "NA key reason". The ROWS list below
# names, for each table row, the program that measures it, the key of our
# figure, the keys of its baseline (the first one measured wins, so a
# program that interleaves its own baseline overrides the stand-alone one),
# the key of a ratio measured round by round (else the ratio of medians),
# and the goal. A row whose program is not in this tree yet is "pending".
#
# bench/mpi.c (issue #10's rows) runs under $MPIRUN -np 3 (rank 0 measures,
# 2 ranks serve): `make bench` builds it with mpicc when Open MPI is
# installed; without mpicc or mpirun its rows say they need Open MPI.
set -u
cd "$(dirname "$0")/.." || exit 2

BUILD=${BUILD:-build}
bin=$BUILD/bench
CHART=${CHART:-$bin/bench.svg}
BENCH_QUICK=${BENCH_QUICK:-0}
[ "$BENCH_QUICK" = "" ] && BENCH_QUICK=0
BENCH_PYTHON=$(command -v python3 || true)
export BENCH_QUICK BENCH_PYTHON BUILD
# As root Open MPI wants to be told twice; --bind-to none, or every forked
# child inherits its rank's one-core binding; 3 ranks on fewer CPUs need
# --oversubscribe (the Makefile passes its MPIRUN).
MPIRUN=${MPIRUN:-timeout -k 5 300 mpirun --oversubscribe --bind-to none}
MPI_NP=3

# id|program|row|chart label|ours key|baseline keys|ratio key|goal on|op|target|goal text
# goal on: ratio or ours; op: <=, < or >= ("-": no goal, the row informs);
# goal text: shown in the table (default "ratio OP TARGET");
# baseline "=VALUE UNIT WHAT" is a figure quoted, not measured here.
ROWS='fresh|fresh|1000 empty tasks, FRESH, vs raw fork+pipe+waitpid loop|FRESH vs raw fork loop|fresh.forkpool|fresh.raw|fresh.ratio|ratio|<=|1.15|
fresh_server|fresh|  same, fork_server (tiny parent)||fresh.server|fresh.raw|fresh.server_ratio|-|-||
fresh_contain|fresh|  same, contain (a PID namespace per task), vs FRESH||fresh.contain|fresh.forkpool|fresh.contain_ratio|-|-||
big|fresh|  same, 256 MiB parent, vs raw loop with that parent||big.forkpool|big.raw|big.ratio|-|-||
big_server|fresh|  same, 256 MiB parent, fork_server, vs FRESH with a tiny parent|fork_server, 256 MiB parent, vs tiny FRESH|big.server|fresh.forkpool|big.server_ratio|ratio|<=|1.5|
fresh_ppe|fresh|  1000 empty tasks, FRESH, vs ProcessPoolExecutor (2 reused workers)||fresh.forkpool|fresh.ppe|fresh.ratio_ppe|-|-||
workers|workers|100,000 empty tasks, WORKERS, vs raw pre-forked pool, 32 in flight|WORKERS vs raw pre-forked pool|workers.forkpool|workers.raw_deep|workers.ratio_deep|ratio|<=|1.25|
workers_raw1|workers|  same, vs raw pre-forked pool, 1 in flight||workers.forkpool|workers.raw1|workers.ratio1|-|-||
workers_lat|workers|20,000 empty tasks one at a time, WORKERS (1 worker), vs raw pre-forked pool, 1 worker, 1 in flight|WORKERS round trip vs raw pool|workers.lat|workers.raw_lat|workers.ratio_lat|ratio|<=|1.2|
workers_ppe|workers|  same, vs ProcessPoolExecutor, 2 workers|WORKERS vs ProcessPoolExecutor|workers.forkpool|workers.ppe|workers.ratio_ppe|ratio|<=|0.2|>= 5x faster (ratio <= 0.2)
map|map|forkpool_map, 1,000,000 trivial items, per item|forkpool_map per item|map.forkpool|||ours|<=|0.1|<= 0.1 us/item
map_poolmap|map|  same, vs Pool.map, default chunksize|forkpool_map vs Pool.map|map.forkpool|map.poolmap_default,py.poolmap_default|map.ratio_poolmap|ratio|<|1|faster (ratio < 1)
map_poolmap1|map|  same, vs Pool.map, chunksize 1||map.forkpool|map.poolmap1,py.poolmap1||-|-||
map_pthread|map|  same, vs pthread pool (2 threads, 1 item per queue op)|forkpool_map vs pthread pool|map.forkpool|map.pthread,raw.pthread|map.ratio_pthread|ratio|<|1|faster (ratio < 1)
bigresult|bigresult|256 MiB result via forkpool_return, vs raw copy through a 64 KiB pipe|256 MiB return vs 64 KiB pipe|bigresult.return|bigresult.pipe64k,raw.pipe64k|bigresult.ratio_pipe64k|ratio|<=|0.5|>= 2x faster (ratio <= 0.5)
bigresult_pipe1m|bigresult|  same, vs raw copy through a 1 MiB pipe||bigresult.return|bigresult.pipe1m,raw.pipe1m||-|-||
bigresult_memfd|bigresult|  same, vs raw memfd copy||bigresult.return|bigresult.memfd,raw.memfd||-|-||
bigresult_buffer|bigresult|256 MiB result via forkpool_result_buffer, vs raw memfd built in place|256 MiB result_buffer vs raw in place|bigresult.buffer|bigresult.inplace,raw.memfd_inplace|bigresult.ratio_inplace|ratio|<=|1.1|~ mapping cost (ratio <= 1.1)
true50|workloads|50 tasks returning true, 20 at a time, whole program, vs spatie/async|50 x true, whole program|workloads.true50|=420 ms spatie/async (issue #3)||ours|<=|10|<= 10 ms
sleep10|workloads|10 tasks sleeping 10/20/30 ms, 10 at a time, vs spatie/async|10 sleeping tasks, whole program|workloads.sleep10|=145 ms spatie/async (issue #3)||ours|<=|35|<= 35 ms
cpu|workloads|4 x 50 ms CPU at concurrency 2: speed-up, vs 2 bare children|CPU-bound speed-up on 2 cores|cpu.speedup|cpu.ceiling||ours|>=|1.9|>= 1.9x
queue|queue_mem|1,000,000 queued tasks, 16-byte arguments: parent RSS growth|1,000,000 queued tasks, RSS|queue.mb|||ours|<=|200|<= 200 MB
cli|cli|CLI: 1000 x /bin/true at -j2, vs raw posix_spawn loop|CLI vs raw posix_spawn loop|cli.forkpool|cli.raw|cli.ratio_raw|ratio|<=|1.1|
cli_xargs|cli|  same, vs xargs -P2|CLI vs xargs -P2|cli.forkpool|cli.xargs|cli.ratio_xargs|ratio|<|1|faster (ratio < 1)
cli_moreutils|cli|  same, vs moreutils parallel -j2||cli.forkpool|cli.moreutils|cli.ratio_moreutils|-|-||
cli_parallel|cli|  same, vs GNU parallel -j2|CLI vs GNU parallel|cli.forkpool|cli.parallel|cli.ratio_parallel|ratio|<=|0.2|>= 5x faster (ratio <= 0.2)
cli_echo|cli|CLI: 10,000 x echo, -k -j2, vs xargs -P2 -n1|CLI -k echo vs xargs -P2|cli.echo_forkpool|cli.echo_xargs|cli.echo_ratio_xargs|ratio|<=|1|no slower (ratio <= 1)
cli_echo_moreutils|cli|  same, vs moreutils parallel -j2||cli.echo_forkpool|cli.echo_moreutils|cli.echo_ratio_moreutils|-|-||
cli_echo_parallel|cli|  same, vs GNU parallel -k -j2|CLI -k echo vs GNU parallel|cli.echo_forkpool|cli.echo_parallel|cli.echo_ratio_parallel|ratio|<=|0.2|>= 5x faster (ratio <= 0.2)
pipe|pipe|CLI --pipe: wc -l over 1 GiB of stdin at -j2 (MB/s), vs GNU parallel --pipe|--pipe MB/s vs GNU parallel|pipe.forkpool|pipe.parallel|pipe.ratio|ratio|>=|2|>= 2x GNU parallel (ratio >= 2)
pipepart|pipe|CLI --pipepart -a FILE: wc -l over 1 GiB at -j2 (MB/s), vs GNU parallel --pipepart|--pipepart MB/s vs GNU parallel|pipepart.forkpool|pipepart.parallel|pipepart.ratio|ratio|>=|2|>= 2x GNU parallel (ratio >= 2)
tee|pipe|CLI --pipe --tee: 1 GiB of stdin to 2 wc -l jobs (MB/s of input), vs GNU parallel --pipe --tee||tee.forkpool|tee.parallel|tee.ratio|-|-||
mpi|mpi|MPI: 1000 empty tasks, FORKPOOL_MPI, 2 serving ranks (np=3), vs local FRESH in rank 0|FORKPOOL_MPI vs local FRESH|mpi.forkpool|mpi.fresh|mpi.ratio|ratio|<=|1.5|ratio <= 1.5 (a guard: 55 went unseen)
mpi_fresh_raw|mpi|  local FRESH in rank 0, vs raw fork+pipe+waitpid loop in rank 0||mpi.fresh|mpi.raw|mpi.fresh_raw|-|-||
mpi_cpu|mpi|MPI: 8 x 100 ms CPU, 2 serving ranks, 1 each: speed-up over 1 at a time, vs 2 bare children|CPU-bound speed-up over 2 MPI ranks|mpi.cpu_speedup|mpi.cpu_ceiling||ours|>=|1.8|>= 1.8x
mpi_cpu_inproc|mpi|  same, speed-up over the loops one after another in rank 0||mpi.cpu_speedup_inproc|||-|-||'

# Programs in the order they run, NAME:KIND (c: $bin/NAME built from
# bench/NAME.c; py: bench/NAME.py; sh: bench/NAME.sh). A C program whose
# source is not in this tree is "absent": its rows stay pending.
PROGRAMS='fresh:c workers:c raw:c map:c bigresult:c workloads:c queue_mem:c pool_map:py cli:sh pipe:sh mpi:mpi'

only=" ${BENCH_ONLY:-} "
meas=$bin/measurements.tsv
tsv=$bin/results.tsv
mkdir -p "$bin"
report_only=0
[ "${1:-}" = --report ] && report_only=1
if [ "$report_only" = 1 ] && [ ! -s "$meas" ]; then
    echo "bench/run.sh: no $meas to report; run 'make bench'" >&2
    exit 2
fi
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.dat" "$tmp.gp"' EXIT INT TERM

failed=0
# na_rows NAME REASON: every key of NAME's rows (ours and baselines) is NA.
na_rows() {
    echo "$ROWS" | awk -F'|' -v p="$1" -v why="$2" '$2 == p {
        n = split($5 "," $6, k, ",")
        for (i = 1; i <= n; i++)
            if (k[i] != "" && !seen[k[i]]++) printf "NA\t%s\t%s\n", k[i], why
    }' >>"$meas"
}

# run_program NAME KIND: runs it, appends its lines and a "P NAME status"
# line (ok, failed, absent, skipped) to $meas.
run_program() {
    name=$1 kind=$2
    if [ "$only" != "  " ] && [ "${only#* "$name" }" = "$only" ]; then
        printf 'P\t%s\tskipped\n' "$name" >>"$meas"
        return
    fi
    case $kind in
    c)
        if [ ! -f "bench/$name.c" ]; then
            printf 'P\t%s\tabsent\n' "$name" >>"$meas"
            return
        fi
        set -- "$bin/$name"
        if [ ! -x "$bin/$name" ]; then
            echo "bench/run.sh: $bin/$name is missing; run 'make bench'" >&2
            printf 'P\t%s\tfailed\n' "$name" >>"$meas"
            failed=1
            return
        fi ;;
    py)
        if [ -z "$BENCH_PYTHON" ]; then
            printf 'P\t%s\tabsent\n' "$name" >>"$meas"
            return
        fi
        set -- "$BENCH_PYTHON" "bench/$name.py" ;;
    mpi)
        if [ ! -f "bench/$name.c" ]; then
            printf 'P\t%s\tabsent\n' "$name" >>"$meas"
            return
        fi
        if ! command -v "${MPICC:-mpicc}" >/dev/null 2>&1 || ! command -v mpirun >/dev/null 2>&1; then
            na_rows "$name" "needs Open MPI: apt-get install openmpi-bin libopenmpi-dev"
            printf 'P\t%s\tabsent\n' "$name" >>"$meas"
            return
        fi
        if [ ! -x "$bin/$name" ]; then
            echo "bench/run.sh: $bin/$name is missing; run 'make bench'" >&2
            printf 'P\t%s\tfailed\n' "$name" >>"$meas"
            failed=1
            return
        fi
        # shellcheck disable=SC2086 # MPIRUN is a command and its options
        set -- env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
            $MPIRUN -np "$MPI_NP" "$bin/$name" ;;
    sh)
        if { [ "$name" = cli ] || [ "$name" = pipe ]; } && [ ! -f cli/main.c ]; then
            printf 'P\t%s\tabsent\n' "$name" >>"$meas"
            return
        fi
        set -- sh "bench/$name.sh" ;;
    esac
    echo "== $name" >&2
    t0=$(date +%s)
    if "$@" >"$tmp" </dev/null; then
        status=ok
    else
        status=failed
        failed=1
        echo "bench/run.sh: $name failed" >&2
    fi
    echo "   ($name: $(($(date +%s) - t0)) s)" >&2
    grep -E '^(M|NA)	' "$tmp" >>"$meas"
    printf 'P\t%s\t%s\n' "$name" "$status" >>"$meas"
}

if [ "$report_only" = 0 ]; then
    : >"$meas"
    for p in $PROGRAMS; do
        run_program "${p%:*}" "${p#*:}"
    done
fi

lscpu_field() { lscpu 2>/dev/null | sed -n "s/^$1:[[:space:]]*//p" | head -n 1; }
if [ "$report_only" = 0 ]; then
    kind="measured run"
    [ "$BENCH_QUICK" != 0 ] && kind="SMOKE RUN (BENCH_QUICK=1): fewer tasks and rounds, figures indicative only"
    {
        echo "machine: $(lscpu_field 'Model name'), $(lscpu_field 'CPU(s)') CPUs (threads per core: $(lscpu_field 'Thread(s) per core'))$(lscpu_field 'Hypervisor vendor' | sed 's/.\{1,\}/, & guest/')"
        echo "kernel:  $(uname -r)"
        echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "run:     $kind"
        echo "python:  ${BENCH_PYTHON:+$($BENCH_PYTHON --version 2>&1)}"
        echo "cc:      $(${CC:-cc} --version 2>/dev/null | head -n 1)"
        echo "mpi:     $(mpirun --version 2>/dev/null | head -n 1)"
    } >"$bin/machine.txt"
fi
machine_field() { sed -n "s/^$1:[[:space:]]*//p" "$bin/machine.txt"; }
machine=$(machine_field machine)
kernel=$(machine_field kernel)
date=$(machine_field date)
kind=$(machine_field run)
mpi=$(machine_field mpi)

# The table: reads $meas, then the ROWS; writes $tsv; prints markdown.
echo "$ROWS" | awk -F'|' -v meas="$meas" -v tsv="$tsv" '
function num(x) {
    if (x == "") return ""
    if (x >= 100 || x <= -100) return sprintf("%.0f", x)
    if (x >= 10 || x <= -10) return sprintf("%.1f", x)
    if (x >= 1 || x <= -1) return sprintf("%.2f", x)
    return sprintf("%.3g", x)
}
function fig(med, lo, hi, unit,   s) {
    if (med == "") return ""
    s = num(med) (unit == "x" ? "x" : unit != "" ? " " unit : "")
    if (lo != "" && lo != hi) s = s " (" num(lo) ".." num(hi) ")"
    return s
}
BEGIN {
    FS = "\t"
    while ((getline line < meas) > 0) {
        n = split(line, f, "\t")
        if (f[1] == "M") { med[f[2]] = f[3]; lo[f[2]] = f[4]; hi[f[2]] = f[5]; unit[f[2]] = f[6] }
        else if (f[1] == "NA") na[f[2]] = f[3]
        else if (f[1] == "P") prog[f[2]] = f[3]
    }
    FS = "|"
    print "id\tprogram\trow\tchart_label\tstatus\tours\tours_min\tours_max\tunit\tbaseline\tbaseline_min\tbaseline_max\tbaseline_unit\tbaseline_key\tratio\tratio_min\tratio_max\tgoal_on\top\ttarget\tgoal\tmet\tscore" > tsv
    print "| row | ours | baseline | ratio | goal | met |"
    print "|---|---|---|---|---|---|"
}
{
    id = $1; p = $2; row = $3; label = $4; ok = $5; bkeys = $6; rk = $7
    on = $8; op = $9; target = $10; goal = $11
    if (op == "-") goal = ""
    else if (goal == "" && on == "ratio") goal = "ratio " op " " target

    # baseline: the first key measured, or a quoted figure
    b = ""; bmed = ""; blo = ""; bhi = ""; bunit = ""; bna = ""
    if (substr(bkeys, 1, 1) == "=") {
        split(substr(bkeys, 2), q, " ")
        bmed = q[1]; bunit = q[2]; b = "quoted"
        bquote = substr(bkeys, 2 + length(q[1]) + 1 + length(q[2]) + 1)
    } else if (bkeys != "") {
        nb = split(bkeys, ks, ",")
        for (i = 1; i <= nb; i++)
            if (ks[i] in med) { b = ks[i]; break }
        if (b != "") { bmed = med[b]; blo = lo[b]; bhi = hi[b]; bunit = unit[b] }
        else for (i = 1; i <= nb; i++) if (ks[i] in na) { bna = na[ks[i]]; break }
    }

    # status of our figure
    status = "ok"
    if (!(ok in med)) {
        if (ok in na) status = "n/a (" na[ok] ")"
        else if (prog[p] == "failed") status = "FAILED"
        else if (prog[p] == "absent" || prog[p] == "") status = "pending"
        else if (prog[p] == "skipped") status = "not run"
        else status = "missing"
    }

    r = ""; rlo = ""; rhi = ""
    if (status == "ok") {
        if (rk != "" && (rk in med)) { r = med[rk]; rlo = lo[rk]; rhi = hi[rk] }
        else if (bmed != "" && bmed + 0 != 0) r = med[ok] / bmed
    }

    met = "-"; score = ""
    if (op != "-") {
        v = (on == "ratio") ? r : (status == "ok" ? med[ok] : "")
        if (status != "ok") met = (status ~ /^n\/a/) ? "n/a" : status
        else if (v == "") met = "n/a (no baseline)"
        else {
            if (op == "<=") good = (v <= target + 0)
            else if (op == "<") good = (v < target + 0)
            else good = (v >= target + 0)
            met = good ? "yes" : "NO"
            score = (op == ">=") ? v / target : (v > 0 ? target / v : "")
        }
    }

    ours_txt = status == "ok" ? fig(med[ok], lo[ok], hi[ok], unit[ok]) : status
    if (b == "quoted") base_txt = num(bmed) " " bunit ", " bquote
    else if (b != "") base_txt = fig(bmed, blo, bhi, bunit)
    else if (bna != "") base_txt = "n/a (" bna ")"
    else if (bkeys ~ /(^|,)py\./ && ENVIRON["BENCH_PYTHON"] == "") base_txt = "n/a (python3 not installed)"
    else if (bkeys != "") base_txt = "not measured"
    else base_txt = ""
    ratio_txt = r != "" ? fig(r, rlo, rhi, "") : ""
    print "| " row " | " ours_txt " | " base_txt " | " ratio_txt " | " goal " | " met " |"
    print id "\t" p "\t" row "\t" label "\t" status "\t" (status == "ok" ? med[ok] : "") "\t" \
        (status == "ok" ? lo[ok] : "") "\t" (status == "ok" ? hi[ok] : "") "\t" unit[ok] "\t" \
        bmed "\t" blo "\t" bhi "\t" bunit "\t" (b == "quoted" ? "quoted: " bquote : b) "\t" \
        r "\t" rlo "\t" rhi "\t" (op == "-" ? "" : on) "\t" (op == "-" ? "" : op) "\t" \
        (op == "-" ? "" : target) "\t" goal "\t" met "\t" score > tsv
}' >"$tmp"

echo
echo "machine: $machine"
echo "kernel:  $kernel"
echo "date:    $date"
echo "run:     $kind"
[ -n "$mpi" ] && echo "mpi:     $mpi, $MPI_NP ranks on this machine"
echo
cat "$tmp"
echo
echo "results: $tsv (one row per line, tab-separated); every figure: $meas"

# The chart: one bar per row with a goal, how far it is from its goal
# (goal / measured for "at most" goals, measured / goal for "at least"),
# on a log scale around 1: right of 1 the goal is met by that factor, left
# of 1 it is missed by it.
if ! command -v gnuplot >/dev/null 2>&1; then
    echo "chart:   skipped, gnuplot is not installed (apt-get install gnuplot-nox)"
else
    # y, bar from, bar to, label x, row label, text, colour
    awk -F'\t' 'NR > 1 && $19 != "" {
        label = $4 != "" ? $4 : $1
        if ($23 != "") {
            s = $23 < 0.1 ? 0.1 : $23 > 10 ? 10 : $23
            v = ($18 == "ratio") ? $15 : $6
            u = ($18 == "ratio" || $9 == "x") ? "x" : " " $9
            op = $19 == "<=" ? "≤" : $19 == ">=" ? "≥" : $19
            t = sprintf("%.3g%s (goal %s %s%s)", v, u, op, $20, u)
            c = ($22 == "yes") ? "0x2e7d32" : "0xc62828"
        } else {
            s = 1; t = $5; c = "0x9e9e9e"
        }
        printf "%d\t%g\t%g\t%g\t%s\t%s\t%s\n", n++, (s < 1 ? s : 1), (s < 1 ? 1 : s), \
            (s < 1 ? 1 : s) * 1.07, label, t, c
    }' "$tsv" >"$tmp.dat"
    rows=$(wc -l <"$tmp.dat")
    height=$((130 + 32 * rows))
    title="forkpool against its goals (make bench, $date)"
    case $kind in SMOKE*) title="$title: SMOKE RUN, figures indicative only" ;; esac
    cat >"$tmp.gp" <<EOF
set terminal svg size 1000,$height dynamic noenhanced font "Helvetica,13" background rgb "white"
set encoding utf8
set output "$CHART"
set datafile separator "\t"
set title "$title\n$machine, Linux $kernel"
set logscale x
set xrange [0.1:40]
set yrange [$rows - 0.4:-0.6]
set ytics scale 0 font ",12"
set xtics ("0.1x" 0.1, "0.2x" 0.2, "0.5x" 0.5, "1 = goal" 1, "2x" 2, "5x" 5, "10x" 10)
set grid xtics lc rgb "#dddddd"
set xlabel "measured against goal, log scale: right of 1 = goal met by that factor, left of 1 = missed by it\ngreen: met; red: missed; grey: not measured in this run"
set border 1+2
set key off
set style fill solid 0.85 noborder
set arrow from 1, graph 0 to 1, graph 1 nohead lc rgb "#444444" lw 1.5
plot "$tmp.dat" using (1):1:2:3:(\$1 - 0.32):(\$1 + 0.32):7:ytic(5) with boxxyerror lc rgb variable, \
     "" using 4:1:6 with labels left font ",11" tc rgb "#333333"
EOF
    if mkdir -p "$(dirname "$CHART")" && gnuplot "$tmp.gp" 2>"$tmp"; then
        echo "chart:   $CHART"
    else
        echo "chart:   gnuplot failed:" >&2
        cat "$tmp" >&2
    fi
fi
exit "$failed"
