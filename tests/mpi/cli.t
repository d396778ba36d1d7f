#!/bin/sh
# forkpool-mpi: the same command lines as forkpool, jobs on the serving
# ranks (-j per rank), rank 0 writing outputs, joblog and exit status.
# Run by make check-mpi: MPIRUN and BUILD come from it.
B=${BUILD:-build}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
say() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
both() { # both NAME ARGS...: runs forkpool and forkpool-mpi, compares stdout and status
    name=$1; shift
    "$B/forkpool" "$@" >"$T/a" 2>/dev/null; ra=$?
    # shellcheck disable=SC2086
    $MPIRUN -np 3 "$B/forkpool-mpi" "$@" >"$T/b" 2>/dev/null; rb=$?
    cmp -s "$T/a" "$T/b"; say $? "$name: the same output"
    [ "$ra" = "$rb" ]; say $? "$name: the same exit status ($ra, $rb)"
}
echo 1..12
both "-k echo" -k echo {} ::: a b c d e f g h
both "failing jobs" -k sh -c 'echo $1; exit $1' sh ::: 0 1 2 0 3
both "--timeout" -k --timeout 0.3 sh -c 'sleep $1; echo $1' sh ::: 0 0.1 5
# shellcheck disable=SC2086
$MPIRUN -np 3 "$B/forkpool-mpi" -j2 sh -c 'echo $OMPI_COMM_WORLD_RANK' ::: 1 2 3 4 5 6 7 8 \
    >"$T/r" 2>/dev/null
[ "$(sort -u "$T/r" | tr '\n' ' ')" = "1 2 " ]; say $? "jobs ran on ranks 1 and 2, never 0"
# shellcheck disable=SC2086
$MPIRUN -np 3 "$B/forkpool-mpi" --joblog "$T/log" true ::: 1 2 3 4 >/dev/null 2>&1
[ "$(wc -l <"$T/log")" = 5 ]; say $? "--joblog: a header and 4 lines, written by rank 0"
# shellcheck disable=SC2086
$MPIRUN -np 3 "$B/forkpool-mpi" --no-such-option >/dev/null 2>&1
[ $? != 0 ]; say $? "a usage error fails the job"
# shellcheck disable=SC2086
$MPIRUN -np 3 "$B/forkpool-mpi" --version >"$T/v" 2>/dev/null
[ $? = 0 ] && grep -q forkpool "$T/v"; say $? "--version: exit 0 on every rank"
# shellcheck disable=SC2086
$MPIRUN -np 1 "$B/forkpool-mpi" -k echo {} ::: x y >"$T/one" 2>/dev/null
[ $? = 0 ] && [ "$(cat "$T/one")" = "$(printf 'x\ny')" ]; say $? "-np 1: the jobs run on rank 0's machine, locally"
"$B/forkpool-mpi" -k echo {} ::: x y >"$T/none" 2>/dev/null
[ $? = 0 ] && [ "$(cat "$T/none")" = "$(printf 'x\ny')" ]; say $? "without mpirun: the same"
