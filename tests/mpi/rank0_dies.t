#!/bin/sh
# Rank 0 killed: every serving rank, its helper and the task children end
# within seconds, and no serving rank runs rank 0's part of the program
# (x_rank0 uses the documented idiom). By default mpirun ends the job;
# with the recovery options the serving ranks notice rank 0's silence
# themselves: with a heartbeat thread, without one (MPI_THREAD_SINGLE),
# and when rank 0 dies idle, before it made a pool.
# Run by make check-mpi: MPIRUN, MPI_RECOVERY and BUILD come from it.
BIN=${BUILD:-build}/tests/mpi/x_rank0
pids=$(mktemp)
trap 'rm -f "$pids" "$pids.ranks" "$pids.body"' EXIT
echo 1..15
n=0
say() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
run() { # run MODE OPTS LABEL
    mode=$1 opts=$2 label=$3
    : > "$pids"; : > "$pids.ranks"; : > "$pids.body"
    start=$(date +%s)
    # shellcheck disable=SC2086
    FP_PIDS=$pids timeout -k 5 60 $MPIRUN $opts -np 3 "$BIN" $mode >/dev/null 2>&1
    took=$(( $(date +%s) - start ))
    [ "$took" -lt 30 ]; say $? "mpirun ended ${took} s after start ($label)"
    if [ "$mode" != idle ]; then
        [ "$(wc -l < "$pids")" -eq 2 ]; say $? "both serving ranks ran a task ($label)"
    fi
    [ "$(grep -vcx 0 "$pids.body")" -eq 0 ]; say $? "no serving rank ran rank 0's part ($label)"
    left=""
    for i in $(seq 100); do
        left=""
        for p in $(cat "$pids" "$pids.ranks"); do kill -0 "$p" 2>/dev/null && left="$left $p"; done
        [ -z "$left" ] && break
        sleep 0.1
    done
    [ -z "$left" ]; say $? "no rank, helper or task child left ($label)${left:+: still alive:$left}"
}
run "" "" "by default"
run "" "$MPI_RECOVERY" "with recovery options"
run single "$MPI_RECOVERY" "without a heartbeat thread"
run idle "$MPI_RECOVERY" "rank 0 dead idle"
