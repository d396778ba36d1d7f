#!/bin/sh
# SIGINT / SIGTERM to the tool while jobs run: exit 130 / 143, every running
# job (and what it started) killed, queued jobs never started. Also while the
# tool waits for more input on stdin.
. "$(dirname "$0")/lib.sh"

# signal_test SIG STATUS DIR
signal_test() {
    sig=$1
    want=$2
    d=$T/$3
    mkdir "$d"
    start_bg "$d/out" "$d/err" -j3 "$B/job" "$d" ::: hang-1 hangtree-2 hang-3 hang-4
    if wait_file 20 "$d/pid-1" "$d/pid-2" "$d/pid-2-child" "$d/pid-3"; then
        pass "SIG$sig: 3 jobs running"
    else
        fail "SIG$sig: 3 jobs running"
    fi
    pids="$(cat "$d"/pid-1 "$d"/pid-2 "$d"/pid-2-child "$d"/pid-3 2>/dev/null | tr '\n' ' ')"
    kill -"$sig" "$BG_PID"
    wait_bg 20
    is "$RC" "$want" "SIG$sig: the tool exits $want"
    # shellcheck disable=SC2086
    ok "SIG$sig: every job and grandchild is gone ($pids)" wait_dead 10 $pids
    ok "SIG$sig: the queued job never started" test ! -e "$d/pid-4"
}

signal_test INT 130 int
signal_test TERM 143 term

# a signal while the tool waits for more input on stdin (a FIFO kept open)
for pair in INT:130 TERM:143; do
    sig=${pair%:*}
    want=${pair#*:}
    d=$T/fifo-$sig
    mkdir "$d"
    mkfifo "$d/fifo"
    exec 7<>"$d/fifo"
    BG_STDIN=$d/fifo
    start_bg "$d/out" "$d/err" -j2 "$B/job" "$d"
    BG_STDIN=
    echo hang-5 >&7
    if wait_file 20 "$d/pid-5"; then pass "SIG$sig, stdin open: the job runs"; else fail "SIG$sig, stdin open: the job runs"; fi
    kill -"$sig" "$BG_PID"
    wait_bg 20
    is "$RC" "$want" "SIG$sig while reading stdin: the tool exits $want"
    if [ -s "$d/pid-5" ]; then
        ok "SIG$sig while reading stdin: the job is gone" wait_dead 10 "$(cat "$d/pid-5")"
    else
        fail "SIG$sig while reading stdin: the job is gone (it never started)"
    fi
    exec 7>&-
done

# a signal before any job started (idle on stdin): still the right status
d=$T/idle
mkdir "$d"
mkfifo "$d/fifo"
exec 7<>"$d/fifo"
BG_STDIN=$d/fifo
start_bg "$d/out" "$d/err" echo
BG_STDIN=
# let it reach its read: a bounded wait until the tool (not perl) runs and sleeps
i=0
while [ "$i" -lt $((1000 * SCALE)) ]; do
    if tr '\0' ' ' <"/proc/$BG_PID/cmdline" 2>/dev/null | grep -qF "$FORKPOOL_BIN" &&
        [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$BG_PID/stat" 2>/dev/null)" = S ]; then
        break
    fi
    i=$((i + 1))
    sleep 0.01
done
kill -TERM "$BG_PID"
wait_bg 20
is "$RC" 143 "SIGTERM with no job yet (idle on stdin): exit 143"
exec 7>&-

done_testing
