#!/bin/sh
# Rank 0 killed while tasks run on the serving ranks: every serving rank,
# its helper and the task children end within seconds, both as mpirun runs
# by default (it ends the job) and with the recovery options (the serving
# ranks notice rank 0's silence themselves).
# Run by make check-mpi: MPIRUN, MPI_RECOVERY and BUILD come from it.
BIN=${BUILD:-build}/tests/mpi/x_rank0
pids=$(mktemp)
trap 'rm -f "$pids"' EXIT
echo 1..6
n=0
for opts in "" "$MPI_RECOVERY"; do
    label=${opts:+"with recovery options"}
    label=${label:-"by default"}
    start=$(date +%s)
    # shellcheck disable=SC2086
    FP_PIDS=$pids timeout -k 5 60 $MPIRUN $opts -np 3 "$BIN" >/dev/null 2>&1
    took=$(( $(date +%s) - start ))
    n=$((n + 1))
    if [ "$took" -lt 30 ]; then echo "ok $n - mpirun ended ${took} s after start ($label)"
    else echo "not ok $n - mpirun took ${took} s ($label)"; fi
    n=$((n + 1))
    if [ "$(wc -l < "$pids")" -eq 2 ]; then echo "ok $n - both serving ranks ran a task ($label)"
    else echo "not ok $n - $(wc -l < "$pids") tasks reported ($label)"; fi
    left=""
    for i in $(seq 100); do
        left=""
        for p in $(cat "$pids"); do kill -0 "$p" 2>/dev/null && left="$left $p"; done
        [ -z "$left" ] && break
        sleep 0.1
    done
    n=$((n + 1))
    if [ -z "$left" ]; then echo "ok $n - no rank, helper or task child left ($label)"
    else echo "not ok $n - still alive:$left ($label)"; ps -o pid,ppid,stat,cmd -p $(echo $left | tr ' ' ,) | sed 's/^/# /'; fi
done
