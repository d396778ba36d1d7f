#!/bin/sh
# --contain: what a job starts, even a setsid'd daemon that outlives the job
# itself, is killed when the job ends (each job's descendants live in a PID
# namespace of their own). Without root the tool refuses it with a message
# (exit 255), never runs uncontained.
. "$(dirname "$0")/lib.sh"

# A job that leaves a daemon behind: new session, SIGTERM ignored, its pid
# (as this test sees it) in $1/daemon-$2; the job exits 0 once it is there
# (or after 10 s).
mkscript leave <<'SH'
setsid sh -c 'trap "" TERM; readlink /proc/self > "$0.tmp"; mv "$0.tmp" "$0"; exec sleep 1000' \
    "$1/daemon-$2" </dev/null >/dev/null 2>&1 &
i=0
while [ ! -e "$1/daemon-$2" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
exit 0
SH

if [ "$(id -u)" = 0 ]; then
    run --contain -j2 "$B/leave" "$T" ::: 1 2
    is "$RC" 0 "the jobs exited 0"
    # An ASan build's runtime warns from the namespace's init (its stack
    # is not one ASan knows): those three lines are not the tool's.
    grep -v -e '^==[0-9]*==WARNING: ASan is ignoring requested __asan_handle_no_return' \
        -e '^False positive error reports may follow$' \
        -e '^For details see https://github.com/google/sanitizers/issues/189$' "$ERR" >"$T/err"
    empty "$T/err" "nothing on stderr"
    ok "both daemons had started" test -e "$T/daemon-1" -a -e "$T/daemon-2"
    pids="$(cat "$T/daemon-1" "$T/daemon-2" 2>/dev/null | tr '\n' ' ')"
    # shellcheck disable=SC2086
    ok "both daemons are gone ($pids)" wait_dead 10 $pids

    if command -v setpriv >/dev/null; then
        # Not under FORKPOOL_WRAP: valgrind as nobody cannot write its files.
        setpriv --reuid=65534 --regid=65534 --clear-groups \
            "$FORKPOOL_BIN" --contain true ::: 1 >"$OUT" 2>"$ERR"
        RC=$?
        is "$RC" 255 "as nobody: exit 255"
        ok "as nobody: the message names the reason" grep -q 'refuses PID namespaces' "$ERR"
    fi
else
    run --contain true ::: 1
    is "$RC" 255 "not root: exit 255"
    ok "not root: the message names the reason" grep -q 'refuses PID namespaces' "$ERR"
fi
done_testing
