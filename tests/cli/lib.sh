# tests/cli/lib.sh: shared helpers for the command-line tool's TAP scripts.
# Sourced (never run) by tests/cli/NN-topic.t:
#
#     #!/bin/sh
#     . "$(dirname "$0")/lib.sh"
#     run -k "$B/args" ::: a b      # the tool; stdout in $OUT, stderr in $ERR, status in $RC
#     is "$RC" 0 "exit status 0"
#     printf '[a]\n[b]\n' >"$T/exp"; same "$OUT" "$T/exp" "stdout byte for byte"
#     done_testing
#
# Environment:
#   FORKPOOL_BIN     the tool (default: build/forkpool next to these tests)
#   FORKPOOL_WRAP    a command prefix for the tool (valgrind in check-valgrind)
#   TEST_TIME_SCALE  integer >= 1; every bounded wait is multiplied by it
#
# Nothing here measures time: waits are bounded ("until X or N seconds"),
# never "long enough".

set -u

: "${FORKPOOL_WRAP:=}"
SCALE=${TEST_TIME_SCALE:-1}
case $SCALE in
    '' | *[!0-9]* | 0) SCALE=1 ;;
esac
TEST_TIME_SCALE=$SCALE
export TEST_TIME_SCALE
LC_ALL=C
export LC_ALL

TESTDIR=$(cd "$(dirname "$0")" && pwd)
if [ -z "${FORKPOOL_BIN:-}" ]; then
    FORKPOOL_BIN=$TESTDIR/../../build/forkpool
fi
if [ ! -x "$FORKPOOL_BIN" ]; then
    echo "Bail out! FORKPOOL_BIN ($FORKPOOL_BIN) is not an executable; run make first"
    exit 255
fi

# ------------------------------------------------------------------ TAP

_tap_n=0
_tap_failed=0

diag() {
    printf '%s\n' "$@" | sed 's/^/# /'
}

# Prints a file for diagnostics, control characters made visible.
diag_file() { # LABEL FILE
    printf '# %s (%s bytes):\n' "$1" "$(wc -c <"$2" | tr -d ' ')"
    head -c 2000 "$2" | od -An -c | head -n 40 | sed 's/^/#   /'
}

pass() {
    _tap_n=$((_tap_n + 1))
    printf 'ok %d - %s\n' "$_tap_n" "$1"
}

fail() {
    _tap_n=$((_tap_n + 1))
    _tap_failed=$((_tap_failed + 1))
    printf 'not ok %d - %s\n' "$_tap_n" "$1"
    # stderr, which prove shows (stdout's comments it does not): a CI log
    # says which test failed and why
    printf "#   Failed test '%s'\n" "$1" >&2
}

skip() { # NAME REASON
    _tap_n=$((_tap_n + 1))
    printf 'ok %d - %s # SKIP %s\n' "$_tap_n" "$1" "$2"
}

# ok NAME CMD...: passes when CMD exits 0.
ok() {
    _name=$1
    shift
    if "$@"; then pass "$_name"; else fail "$_name"; return 1; fi
}

# is GOT EXPECTED NAME: string equality.
is() {
    if [ "$1" = "$2" ]; then
        pass "$3"
    else
        fail "$3"
        diag "         got: '$1'" "    expected: '$2'" >&2
        return 1
    fi
}

# isnt GOT UNEXPECTED NAME
isnt() {
    if [ "$1" != "$2" ]; then
        pass "$3"
    else
        fail "$3"
        diag "    got '$1', expected anything else" >&2
        return 1
    fi
}

# same GOT_FILE EXPECTED_FILE NAME: byte-for-byte comparison (cmp).
same() {
    if cmp -s "$1" "$2"; then
        pass "$3"
    else
        fail "$3"
        diag_file got "$1" >&2
        diag_file expected "$2" >&2
        return 1
    fi
}

# same_str GOT_FILE NAME PRINTF_FORMAT [ARGS...]: the file holds exactly the
# bytes printf would print.
same_str() {
    _f=$1
    _n=$2
    shift 2
    # shellcheck disable=SC2059
    printf "$@" >"$T/.expected"
    same "$_f" "$T/.expected" "$_n"
}

# empty FILE NAME
empty() {
    if [ ! -s "$1" ]; then pass "$2"; else
        fail "$2"
        diag_file got "$1" >&2
        return 1
    fi
}

# todo NAME CMD...: a TAP TODO test (reported, never fails the script).
todo() {
    _name=$1
    shift
    _tap_n=$((_tap_n + 1))
    if "$@"; then
        printf 'ok %d - %s # TODO optional in the spec\n' "$_tap_n" "$_name"
    else
        printf 'not ok %d - %s # TODO optional in the spec\n' "$_tap_n" "$_name"
    fi
}

done_testing() {
    printf '1..%d\n' "$_tap_n"
    if [ "$_tap_failed" -ne 0 ]; then
        diag "Looks like you failed $_tap_failed test(s) of $_tap_n." >&2
        exit 1
    fi
    exit 0
}

# ------------------------------------------------------------ temp dir

T=$(mktemp -d "${TMPDIR:-/tmp}/forkpool-cli.XXXXXX")
OUT=$T/stdout
ERR=$T/stderr
B=$T/bin
mkdir "$B" "$T/work" "$T/home"
# The tool reads GNU parallel's profiles (~/.parallel/config...) and
# $PARALLEL, as GNU parallel does: none of the tester's are used here.
HOME=$T/home
export HOME
unset PARALLEL PARALLEL_HOME XDG_CONFIG_HOME XDG_CONFIG_DIRS
_cleanup() {
    # Jobs a failed test left behind (hang jobs record their pids).
    for _p in "$T"/pid-* "$T"/*/pid-*; do
        [ -f "$_p" ] && kill -9 "$(cat "$_p")" 2>/dev/null
    done
    rm -rf "$T"
}
trap _cleanup EXIT
trap '_cleanup; exit 130' INT
trap '_cleanup; exit 143' TERM

# --------------------------------------------------------- the tool

# Outer limit for one run of the tool: a hang fails the test instead of the
# whole suite hanging (timeout exits 124, or 137 after -k).
RUN_LIMIT=$((60 * SCALE))

# run ARGS...: runs the tool with stdin /dev/null; sets OUT, ERR files and RC.
run() {
    timeout -k 5 "$RUN_LIMIT" $FORKPOOL_WRAP "$FORKPOOL_BIN" "$@" <"${RUN_STDIN:-/dev/null}" >"$OUT" 2>"$ERR"
    RC=$?
    # valgrind's own notes ("--PID-- WARNING: unhandled ... syscall: 434",
    # i.e. pidfd_open) are not the tool's output; its error reports
    # ("==PID== ...") are kept, and make the exit status 99 anyway.
    if [ -n "$FORKPOOL_WRAP" ]; then
        sed '/^--[0-9][0-9]*-- /d' "$ERR" >"$ERR.tmp" && mv "$ERR.tmp" "$ERR"
    fi
    return 0
}

# run_in FILE ARGS...: the same with stdin from FILE.
run_in() {
    RUN_STDIN=$1
    shift
    run "$@"
    RUN_STDIN=
}

# fp ARGS...: the tool with inherited stdio, for pipelines (no timeout).
fp() {
    $FORKPOOL_WRAP "$FORKPOOL_BIN" "$@"
}

# start_bg OUTFILE ERRFILE ARGS...: the tool in the background with SIGINT and
# SIGTERM at their defaults (a non-interactive shell ignores SIGINT in
# background jobs); sets BG_PID.
start_bg() {
    _o=$1
    _e=$2
    shift 2
    perl -e '$SIG{INT} = $SIG{TERM} = $SIG{QUIT} = "DEFAULT"; exec @ARGV or die "exec: $!"' \
        $FORKPOOL_WRAP "$FORKPOOL_BIN" "$@" <"${BG_STDIN:-/dev/null}" >"$_o" 2>"$_e" 7>&- &
    BG_PID=$!
}

# wait_bg SECS: waits (bounded: SECS * scale) for the background tool; sets
# RC (or RC=timeout after killing it).
wait_bg() {
    _i=0
    _max=$(($1 * SCALE * 100))
    while kill -0 "$BG_PID" 2>/dev/null && ! _zombie "$BG_PID"; do
        _i=$((_i + 1))
        if [ "$_i" -gt "$_max" ]; then
            kill -9 "$BG_PID" 2>/dev/null
            wait "$BG_PID" 2>/dev/null
            RC=timeout
            return 1
        fi
        sleep 0.01
    done
    wait "$BG_PID"
    RC=$?
    return 0
}

# ------------------------------------------------------- processes

_zombie() {
    _st=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$_st" = Z ] || [ "$_st" = X ]
}

# pid_dead PID: the process does not exist or is a zombie.
pid_dead() {
    ! kill -0 "$1" 2>/dev/null || _zombie "$1"
}

# wait_dead SECS PID...: waits (bounded) until every PID is dead.
wait_dead() {
    _max=$(($1 * SCALE * 100))
    shift
    for _pid in "$@"; do
        _i=0
        while ! pid_dead "$_pid"; do
            _i=$((_i + 1))
            [ "$_i" -gt "$_max" ] && return 1
            sleep 0.01
        done
    done
    return 0
}

# wait_file SECS FILE...: waits (bounded) until every FILE exists.
wait_file() {
    _max=$(($1 * SCALE * 100))
    shift
    for _f in "$@"; do
        _i=0
        while [ ! -e "$_f" ]; do
            _i=$((_i + 1))
            [ "$_i" -gt "$_max" ] && return 1
            sleep 0.01
        done
    done
    return 0
}

# ------------------------------------------------------ job helpers
# Small programs the tool runs as jobs (no shell involved: the tool execs them).

mkscript() { # NAME, body on stdin
    { echo '#!/bin/sh'; cat; } >"$B/$1"
    chmod +x "$B/$1"
}

# args: prints each argument in brackets, one per line.
mkscript args <<'EOF'
for a in "$@"; do printf '[%s]\n' "$a"; done
EOF

# exitwith N: exits with status N.
mkscript exitwith <<'EOF'
exit "$1"
EOF

# sleepecho SECS: sleeps, then prints SECS.
mkscript sleepecho <<'EOF'
sleep "$1"
echo "$1"
EOF

# waitfile FILE...: bounded wait (10 s * scale) for files; 1 if they never came.
mkscript waitfile <<'EOF'
n=$((1000 * ${TEST_TIME_SCALE:-1}))
for f in "$@"; do
    i=0
    while [ ! -e "$f" ]; do
        i=$((i + 1)); [ $i -gt $n ] && exit 1
        sleep 0.01
    done
done
exit 0
EOF

# job DIR ACTION: what a test needs one job to do.
#   hang-ID           write own pid to DIR/pid-ID, then become `sleep 1000`
#   hangtree-ID       like hang, plus a background `sleep 1000` grandchild
#                     whose pid goes to DIR/pid-ID-child
#   ok-ID             create DIR/ran-ID, print "ok ID"
#   fail-ID           create DIR/ran-ID, print "fail ID", exit 3
#   failafter-ID      wait for DIR/pid-ID (bounded), then like fail
#   okafter-ID        wait for DIR/pid-ID (bounded), then print "okafter ID"
#   failreaped-ID     write pid to DIR/pid-fail-ID, print, exit 3
#   waitreaped-ID     wait until the job that wrote DIR/pid-fail-ID is gone
#                     (reaped), then print "done ID"
mkscript job <<'EOF'
d=$1
a=$2
id=${a#*-}
n=$((1000 * ${TEST_TIME_SCALE:-1}))
gone() { # the process does not exist or is a zombie not yet reaped? only "not exist" counts
    ! [ -e "/proc/$1" ]
}
case $a in
hang-*) echo $$ >"$d/pid-$id.tmp" && mv "$d/pid-$id.tmp" "$d/pid-$id"; exec sleep 1000 ;;
hangtree-*)
    sleep 1000 &
    echo $! >"$d/pid-$id-child"
    echo $$ >"$d/pid-$id.tmp" && mv "$d/pid-$id.tmp" "$d/pid-$id"
    wait ;;
ok-*) : >"$d/ran-$id"; echo "ok $id" ;;
fail-*) : >"$d/ran-$id"; echo "fail $id"; exit 3 ;;
failafter-*) "${0%/*}/waitfile" "$d/pid-$id" || exit 9; echo "failafter $id"; exit 3 ;;
okafter-*) "${0%/*}/waitfile" "$d/pid-$id" || exit 9; echo "okafter $id" ;;
failreaped-*) echo $$ >"$d/pid-fail-$id.tmp" && mv "$d/pid-fail-$id.tmp" "$d/pid-fail-$id"; echo "failreaped $id"; exit 3 ;;
waitreaped-*)
    "${0%/*}/waitfile" "$d/pid-fail-$id" || exit 9
    p=$(cat "$d/pid-fail-$id")
    i=0
    while ! gone "$p"; do i=$((i + 1)); [ $i -gt $n ] && exit 9; sleep 0.01; done
    echo "done $id" ;;
*) echo "job: unknown action $a" >&2; exit 64 ;;
esac
EOF

# mark LOG ID: appends "S ID", pauses a little, appends "E ID" (lock-free
# overlap check: O_APPEND writes of one short line are atomic).
mkscript mark <<'EOF'
echo "S $2" >>"$1"
sleep 0.02
echo "E $2" >>"$1"
EOF

# barrier DIR N ID: arrives, then waits (bounded) until N jobs arrived; prints
# "in ID" or fails with "barrier timeout ID" if fewer than N ever ran at once.
mkscript barrier <<'EOF'
: >"$1/b-$3"
n=$((1000 * ${TEST_TIME_SCALE:-1}))
i=0
while [ "$(ls "$1" | grep -c '^b-')" -lt "$2" ]; do
    i=$((i + 1))
    if [ $i -gt $n ]; then echo "barrier timeout $3"; exit 1; fi
    sleep 0.01
done
echo "in $3"
EOF

# slowprint ID LINES: prints LINES lines to stdout and to stderr, slowly.
mkscript slowprint <<'EOF'
i=1
while [ $i -le "$2" ]; do
    echo "$1 out $i"
    echo "$1 err $i" >&2
    sleep 0.003
    i=$((i + 1))
done
EOF

# chain DIR N I: job I finishes only after job I+1 did (so jobs end in reverse
# input order), then prints I.
mkscript chain <<'EOF'
if [ "$3" -lt "$2" ]; then
    "${0%/*}/waitfile" "$1/done-$(($3 + 1))" || { echo "chain timeout $3"; exit 1; }
fi
echo "$3"
: >"$1/done-$3"
EOF

# counter DIR: a job that fails until its third run (count in DIR/count).
mkscript counter <<'EOF'
n=$(cat "$1/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n >"$1/count"
echo "attempt $n"
echo "attempt $n err" >&2
[ $n -ge 3 ]
EOF

# overlap LOG: the most jobs ever between their S and E marks in LOG.
max_overlap() {
    awk '$1 == "S" { n++; if (n > m) m = n } $1 == "E" { n-- } END { print m + 0 }' "$1"
}

# Jobs' own output is grouped: every ID's lines are contiguous and in order.
# FILE holds lines "ID KIND I"; prints nothing when grouped, else the offence.
check_grouped() { # FILE
    awk '{
        if ($1 != cur) {
            if ($1 in seen) { print "line " NR ": " $1 " again after another job"; exit }
            seen[$1] = 1; cur = $1; want = 1
        }
        if ($3 != want) { print "line " NR ": " $0 " out of order"; exit }
        want++
    }' "$1"
}

NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)
