# tests/cli/gnu-compare.sh: compare() for tests that hold forkpool against
# GNU parallel; sourced after lib.sh. Without GNU parallel each comparison
# is a TAP SKIP.
if command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
    HAVE=1
else
    HAVE=0
fi
PHOME=$T/phome
mkdir "$PHOME"
# compare NAME [STDIN_FILE] -- ARGS...: same stdout bytes and exit status.
# Run in $T/work (created here), so that relative file names work.
mkdir -p "$T/work"
compare() {
    name=$1
    shift
    in=/dev/null
    if [ "$1" != -- ]; then in=$1; shift; fi
    shift
    if [ "$HAVE" = 0 ]; then
        # still run, for the checks of $OUT, $ERR or $RC that may follow
        (cd "$T/work" && run_in "$in" "$@" && echo "$RC" >"$T/f.rc")
        RC=$(cat "$T/f.rc")
        skip "$name: stdout as GNU parallel" "parallel not installed"
        skip "$name: exit status as GNU parallel" "parallel not installed"
        return
    fi
    (cd "$T/work" && HOME=$PHOME timeout -k 5 $((60 * SCALE)) parallel --will-cite "$@" \
        <"$in" >"$T/p.out" 2>"$T/p.err")
    prc=$?
    (cd "$T/work" && run_in "$in" "$@" && echo "$RC" >"$T/f.rc")
    RC=$(cat "$T/f.rc")
    same "$OUT" "$T/p.out" "$name: stdout as GNU parallel"
    is "$RC" "$prc" "$name: exit status as GNU parallel"
}

# compare_sorted: the same, output lines sorted (jobs run in any order).
compare_sorted() {
    name=$1
    shift
    in=/dev/null
    if [ "$1" != -- ]; then in=$1; shift; fi
    shift
    if [ "$HAVE" = 0 ]; then
        skip "$name: sorted stdout as GNU parallel" "parallel not installed"
        return
    fi
    (cd "$T/work" && HOME=$PHOME timeout -k 5 $((60 * SCALE)) parallel --will-cite "$@" \
        <"$in" | sort >"$T/p.out")
    (cd "$T/work" && run_in "$in" "$@")
    sort "$OUT" >"$T/f.out"
    same "$T/f.out" "$T/p.out" "$name: sorted stdout as GNU parallel"
}

# usage_error NAME WORD ARGS...: exit 255, nothing on stdout, a message on
# stderr naming WORD.
usage_error() {
    _n=$1
    _w=$2
    shift 2
    run "$@"
    is "$RC" 255 "$_n: exit 255"
    empty "$OUT" "$_n: nothing on stdout"
    if grep -qF -e "forkpool: " "$ERR" && grep -qF -e "$_w" "$ERR"; then
        pass "$_n: message names '$_w'"
    else
        fail "$_n: message names '$_w'"
        diag_file stderr "$ERR"
    fi
}
