#!/bin/sh
# The command lines of GNU parallel's own manuals (man parallel_tutorial, man
# parallel_examples; Debian's parallel 20221122), listed with their set-up in
# gnu-manuals/catalogue (its header describes the format), each run with GNU
# parallel and with forkpool on the same freshly made files, and classified:
#   SAME     same stdout (after the line's normalisation), same exit status of
#            the snippet and of every `parallel` in it
#   REFUSED  forkpool exited 255 and said why on stderr ("forkpool: ...")
#   WRONG    anything else
# A line the catalogue marks `same` must come out SAME, one marked `refused`
# or `deliberate` REFUSED (or SAME: the test then says to flip it), one
# marked `wrong` is a TODO test. A diag gives the counts and the percentage
# of lines SAME among those run, and of those SAME or refused on purpose
# (`deliberate`: the message says what to write instead) (lines needing a remote host, a terminal or software not
# installed are not run; they are counted).
#
# FORKPOOL_MANUALS_REPORT=1 also prints each line's expected and actual
# class and, at the end, the catalogue entries whose status should change
# (after a feature lands: edit `refused`/`wrong` to `same` there;
# tools/gnu-manuals-update.py does those edits from this report).
# FORKPOOL_MANUALS_ONLY=REGEX runs only the lines whose ID matches.
# FORKPOOL_MANUALS_KEEP=DIR keeps each run's stdout, stderr and statuses
# there (N.gnu.out, N.fp.err, ...; N is the line's place in the catalogue).
# FORKPOOL_MANUALS_EVERY=N runs every Nth runnable line only; under
# FORKPOOL_WRAP (valgrind: 1-3 s per start of the tool) it defaults to 10, so
# that the check stays near a minute; otherwise to 1 (every line). Under
# FORKPOOL_WRAP, lines that export a shell function (`export -f`) are not
# run: valgrind drops variables with a % in their name (BASH_FUNC_f%%) from
# the environment, so forkpool could not see the function (the other
# variants run them).
# Without GNU parallel installed, the `same` lines are TAP SKIPs; the refusals
# are still checked.
. "$(dirname "$0")/lib.sh"

CATALOGUE=$TESTDIR/gnu-manuals/catalogue
REPORT=${FORKPOOL_MANUALS_REPORT:-0}
ONLY=${FORKPOOL_MANUALS_ONLY:-}
if [ -n "$FORKPOOL_WRAP" ]; then EVERY=${FORKPOOL_MANUALS_EVERY:-10}; else EVERY=${FORKPOOL_MANUALS_EVERY:-1}; fi
# Lines run at once: most of a line's time is GNU parallel starting (perl)
# or its jobs sleeping.
WORKERS=4
LINE_LIMIT=$((30 * SCALE))

GNU=$(command -v parallel 2>/dev/null || true)
if [ -n "$GNU" ] && "$GNU" --version 2>/dev/null | grep -q 'GNU parallel'; then HAVE=1; else HAVE=0; fi

# ------------------------------------------------------------ the catalogue
# $T/m/N.sh: the Nth snippet; $T/index: N<TAB>ID<TAB>STATUS<TAB>NORM<TAB>NEEDS<TAB>REASON
mkdir "$T/m" "$T/r" "$T/w" "$T/h" "$T/claim" "$T/tpl" "$T/big" "$T/gnu" "$T/fp" "$T/stubs"
awk -v dir="$T/m" -v idx="$T/index" '
    /^##/ { next }
    /^@ / {
        if (file != "") close(file)
        n++
        needs = "-"; reason = ""
        for (i = 5; i <= NF; i++) {
            if ($i == "--") { for (j = i + 1; j <= NF; j++) reason = reason (reason == "" ? "" : " ") $j; break }
            if ($i ~ /^needs=/) needs = substr($i, 7)
        }
        printf "%d\t%s\t%s\t%s\t%s\t%s\n", n, $2, $3, $4, needs, reason > idx
        file = dir "/" n ".sh"
        printf "" > file
        next
    }
    file != "" { print > file }
' "$CATALOGUE"

# ------------------------------------------------------- the tutorial's files
# (its Prerequisites section), in a template copied for every run; the big
# ones are links to read-only copies.
(
    cd "$T/tpl" || exit 1
    printf 'A\nB\nC\n' >abc-file
    printf 'D\nE\nF\n' >def-file
    printf 'A\0B\0C\0' >abc0-file
    printf 'A_B_C_' >abc_-file
    printf 'f1\tf2\nA\tB\nC\tD\n' >tsv-file.tsv
    seq 8 >num8
    seq 128 >num128
    (echo %head1; echo %head2; seq 10) >num_%header
    printf 'HHHHAAABBBCCC' >fixedlen
    seq 30000 >"$T/big/num30000"
    seq 1000000 >"$T/big/num1000000"
    chmod a-w "$T/big/num30000" "$T/big/num1000000"
    ln -s "$T/big/num30000" num30000
    ln -s "$T/big/num1000000" num1000000
)

# ------------------------------------------- the two tools, named `parallel`
# Each logs its exit status (one line per run, nested runs too) to
# $MANUALS_RCLOG. They are bash scripts: GNU parallel runs its jobs with the
# shell that started it, as the manuals (written for bash) expect.
cat >"$T/gnu/parallel" <<EOF
#!/bin/bash
'$GNU' "\$@"
rc=\$?
echo \$rc >>"\$MANUALS_RCLOG"
exit \$rc
EOF
cat >"$T/fp/parallel" <<EOF
#!/bin/bash
$FORKPOOL_WRAP '$FORKPOOL_BIN' "\$@"
rc=\$?
echo \$rc >>"\$MANUALS_RCLOG"
exit \$rc
EOF
chmod +x "$T/gnu/parallel" "$T/fp/parallel"

# The examples' placeholder programs: print their name and arguments; those
# that read stdin pass it through.
for p in cmd do_something do_step1 my_command myprog your_prg; do
    printf '#!/bin/sh\nprintf %%s %s; printf " %%s" "$@"; echo\n' "$p" >"$T/stubs/$p"
done
for p in do_step2 fastq-reader; do
    printf '#!/bin/sh\nprintf %%s %s; printf " %%s" "$@"; echo\ncat\n' "$p" >"$T/stubs/$p"
done
printf '#!/bin/sh\ncat\n' >"$T/stubs/process_output"
chmod +x "$T/stubs/"*

# ---------------------------------------------------------------- running
# run_side N SIDE [LIMIT]: runs snippet N with SIDE's `parallel` in $T/w/N
# (the same path for both sides: `pwd` and `find` print it), for LIMIT
# seconds at most (default LINE_LIMIT); results in $T/r/N.SIDE.*
# Each run writes files of its own, moved into place at its end: GNU
# parallel's jobs are process groups of their own, out of the reach of
# timeout's kill, so after a run that timed out some of them live on, and
# went on logging their exit statuses into the retry's log. And a run's
# leftovers are waited for, then killed, before the next run starts in the
# same directories: GNU sem puts its jobs in the background and `sem --wait`
# does not wait for their last steps (ex-mutex-sem: the forkpool side's
# last sem, still releasing its semaphore, can remove the GNU side's).
_tries=0
# leftovers TAG: the processes still running from the run tagged TAG (they
# inherit MANUALS_RUN=TAG in their environment).
leftovers() {
    grep -lszFx "MANUALS_RUN=$1" /proc/[0-9]*/environ | sed 's|^/proc/\([0-9]*\)/environ$|\1|'
}
# reap_leftovers TAG: waits up to 5 s (× scale) for them to end, then kills
# them.
reap_leftovers() {
    _i=0
    while [ -n "$(leftovers "$1")" ] && [ $_i -lt $((50 * SCALE)) ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
    # shellcheck disable=SC2046
    kill -9 $(leftovers "$1") 2>/dev/null || true
}
run_side() {
    _w=$T/w/$1
    _h=$T/h/$1
    _tries=$((_tries + 1))
    _a=$T/r/$1.$2.try$_tries
    rm -rf "$_w" "$_h"
    mkdir -p "$_w" "$_h/home/.parallel" "$_h/tmp"
    : >"$_h/home/.parallel/will-cite"
    cp -R "$T/tpl/." "$_w/"
    : >"$_a.rc"
    (
        cd "$_w" || exit 1
        HOME=$_h/home TMPDIR=$_h/tmp SHELL=/bin/bash TZ=UTC \
            PATH=$T/$2:$T/stubs:$PATH MANUALS_RCLOG=$_a.rc MANUALS_RUN=$_a \
            timeout -k 2 "${3:-$LINE_LIMIT}" bash "$T/m/$1.sh" </dev/null >"$_a.out" 2>"$_a.err"
        echo $? >"$_a.status"
    )
    reap_leftovers "$_a"
    for _x in rc out err status; do mv -f "$_a.$_x" "$T/r/$1.$2.$_x"; done
    rm -rf "$_w" "$_h"
}

# normalise FILE NORM: the stdout as compared.
normalise() {
    case $2 in
    raw) cat "$1" ;;
    sort) sort "$1" ;;
    bytes) od -An -v -tx1 "$1" | tr -s ' ' '\n' | sed '/^$/d' | sort ;;
    status) : ;;
    *) echo "bad NORM $2" ;;
    esac
}

# classify N STATUS NORM NEEDS: writes $T/r/N.class: SAME, REFUSED, WRONG
# (with what differs in $T/r/N.why), NOGNU, or MISSING (NEEDS not installed).
classify() {
    _n=$1
    if [ "$4" != - ]; then
        for _p in $(echo "$4" | tr , ' '); do
            if ! command -v "$_p" >/dev/null 2>&1; then
                echo "MISSING" >"$T/r/$_n.class"
                echo "$_p not installed" >"$T/r/$_n.why"
                return
            fi
        done
    fi
    run_side "$_n" fp
    if grep -qx 255 "$T/r/$_n.fp.rc" && grep -q 'forkpool: ' "$T/r/$_n.fp.err"; then
        echo REFUSED >"$T/r/$_n.class"
        grep 'forkpool: ' "$T/r/$_n.fp.err" | tail -n 1 >"$T/r/$_n.why"
        return
    fi
    if [ "$HAVE" = 0 ]; then
        echo NOGNU >"$T/r/$_n.class"
        return
    fi
    run_side "$_n" gnu
    # GNU parallel is the reference, not under test, and slow to start (perl
    # per `parallel`: ex-250-jobs-more starts 250 of them). When it ran out
    # of time and forkpool did not (a busy machine), it runs once more, for
    # ten times as long (four was too short on a VM where a fork costs
    # ~1 ms: 250 perl starts took over 120 s under make check's load).
    if [ "$(cat "$T/r/$_n.gnu.status")" = 124 ] && [ "$(cat "$T/r/$_n.fp.status")" != 124 ]; then
        run_side "$_n" gnu $((10 * LINE_LIMIT))
    fi
    normalise "$T/r/$_n.gnu.out" "$3" >"$T/r/$_n.gnu.norm"
    normalise "$T/r/$_n.fp.out" "$3" >"$T/r/$_n.fp.norm"
    : >"$T/r/$_n.why"
    if ! cmp -s "$T/r/$_n.gnu.norm" "$T/r/$_n.fp.norm"; then
        echo "stdout differs ($3)" >>"$T/r/$_n.why"
    fi
    _gs=$(cat "$T/r/$_n.gnu.status")
    _fs=$(cat "$T/r/$_n.fp.status")
    if [ "$_gs" != "$_fs" ]; then
        echo "snippet exit status: GNU $_gs, forkpool $_fs" >>"$T/r/$_n.why"
    fi
    sort "$T/r/$_n.gnu.rc" >"$T/r/$_n.gnu.rcs"
    sort "$T/r/$_n.fp.rc" >"$T/r/$_n.fp.rcs"
    if ! cmp -s "$T/r/$_n.gnu.rcs" "$T/r/$_n.fp.rcs"; then
        echo "parallel exit statuses: GNU $(tr '\n' ' ' <"$T/r/$_n.gnu.rcs")forkpool $(tr '\n' ' ' <"$T/r/$_n.fp.rcs")" >>"$T/r/$_n.why"
    fi
    if [ -s "$T/r/$_n.why" ]; then echo WRONG >"$T/r/$_n.class"; else echo SAME >"$T/r/$_n.class"; fi
}

# Which lines run: the runnable ones, filtered by ONLY and EVERY.
_k=0
while IFS='	' read -r n id st norm needs reason; do
    case $st in remote | tty | missing) continue ;; esac
    if [ -n "$FORKPOOL_WRAP" ] && grep -q 'export -f' "$T/m/$n.sh"; then continue; fi
    if [ -n "$ONLY" ] && ! echo "$id" | grep -qE "$ONLY"; then continue; fi
    _k=$((_k + 1))
    [ $(((_k - 1) % EVERY)) -eq 0 ] || continue
    printf '%s\t%s\t%s\t%s\n' "$n" "$st" "$norm" "$needs"
done <"$T/index" >"$T/torun"

# WORKERS processes take the lines in turn (mkdir claims a line atomically).
worker() {
    while IFS='	' read -r n st norm needs; do
        mkdir "$T/claim/$n" 2>/dev/null || continue
        [ "$REPORT" = 1 ] && _t0=$(date +%s%N)
        classify "$n" "$st" "$norm" "$needs"
        [ "$REPORT" = 1 ] && echo $((($(date +%s%N) - _t0) / 1000000)) >"$T/r/$n.ms"
    done <"$T/torun"
}
_pids=
_i=0
while [ $_i -lt $WORKERS ]; do
    worker &
    _pids="$_pids $!"
    _i=$((_i + 1))
done
# shellcheck disable=SC2086
wait $_pids

# ------------------------------------------------------------- TAP, counts
# show_run N SIDE: a failed line's evidence.
show_run() {
    diag "  $2: snippet status $(cat "$T/r/$1.$2.status"), parallel statuses: $(tr '\n' ' ' <"$T/r/$1.$2.rc")"
    [ -s "$T/r/$1.$2.out" ] && diag "  $2 stdout:" "$(head -n 8 "$T/r/$1.$2.out")"
    [ -s "$T/r/$1.$2.err" ] && diag "  $2 stderr:" "$(head -n 4 "$T/r/$1.$2.err")"
    return 0
}

n_same=0 n_refused=0 n_deliberate=0 n_wrong=0 n_remote=0 n_tty=0 n_missing=0 n_skipped=0 n_nogun=0
flips=
while IFS='	' read -r n id st norm needs reason; do
    case $st in
    remote) n_remote=$((n_remote + 1)); continue ;;
    tty) n_tty=$((n_tty + 1)); continue ;;
    missing) n_missing=$((n_missing + 1)); continue ;;
    esac
    if [ ! -f "$T/r/$n.class" ]; then
        n_skipped=$((n_skipped + 1))
        continue
    fi
    class=$(cat "$T/r/$n.class")
    why=$(tr '\n' ';' 2>/dev/null <"$T/r/$n.why")
    case $class in
    SAME) n_same=$((n_same + 1)) ;;
    REFUSED)
        n_refused=$((n_refused + 1))
        [ "$st" = deliberate ] && n_deliberate=$((n_deliberate + 1))
        ;;
    WRONG) n_wrong=$((n_wrong + 1)) ;;
    MISSING) n_missing=$((n_missing + 1)); continue ;;
    NOGNU) n_nogun=$((n_nogun + 1)) ;;
    esac
    if [ "$REPORT" = 1 ]; then
        printf '# %-32s %-8s %-8s %6s ms %s\n' "$id" "$st" "$class" "$(cat "$T/r/$n.ms")" "$why"
    fi
    case $st:$class in
    same:SAME) pass "$id: same as GNU parallel" ;;
    refused:REFUSED | deliberate:REFUSED) pass "$id: refused with a message ($reason)" ;;
    refused:SAME | deliberate:SAME)
        pass "$id: same as GNU parallel (the catalogue says refused: flip it to same)"
        flips="$flips $id:$st->same"
        ;;
    wrong:SAME | wrong:REFUSED)
        _tap_n=$((_tap_n + 1))
        printf 'ok %d - %s: %s # TODO %s\n' "$_tap_n" "$id" "$class" "$reason"
        flips="$flips $id:wrong->$(echo "$class" | tr 'A-Z' 'a-z')"
        ;;
    wrong:*)
        _tap_n=$((_tap_n + 1))
        printf 'not ok %d - %s: %s # TODO %s\n' "$_tap_n" "$id" "$class" "$reason"
        ;;
    *:NOGNU) skip "$id: same as GNU parallel" "GNU parallel not installed" ;;
    *)
        fail "$id: expected $st, got $class"
        # on stderr, with the failure: a CI log shows only that
        {
            diag "  $why"
            show_run "$n" fp
            [ -f "$T/r/$n.gnu.status" ] && show_run "$n" gnu
        } >&2
        [ "$class" = REFUSED ] || flips="$flips $id:$st->$(echo "$class" | tr 'A-Z' 'a-z')"
        ;;
    esac
done <"$T/index"

total=$(wc -l <"$T/index" | tr -d ' ')
run=$((n_same + n_refused + n_wrong))
pct=0
[ "$run" -gt 0 ] && pct=$((n_same * 1000 / run))
n_local=$((total - n_remote))
pct2=$((n_same * 1000 / n_local))
pct3=0
[ "$run" -gt 0 ] && pct3=$(((n_same + n_deliberate) * 1000 / run))
diag "GNU parallel's manuals: $total command lines: $n_remote need a remote host, $n_tty a terminal," \
    "$n_missing software not installed here; of the $run run: SAME $n_same, REFUSED $n_refused, WRONG $n_wrong" \
    "SAME: $((pct / 10)).$((pct % 10))% of the lines run (not remote, no terminal, software installed)," \
    "$((pct2 / 10)).$((pct2 % 10))% of all $n_local lines that need no remote host;" \
    "of the REFUSED, $n_deliberate on purpose, with what to write instead (mostly commands" \
    "written for a shell: add --shell); SAME or refused on purpose:" \
    "$((pct3 / 10)).$((pct3 % 10))% of the lines run"
[ "$n_skipped" -gt 0 ] && diag "$n_skipped lines not run (FORKPOOL_MANUALS_EVERY=$EVERY, FORKPOOL_MANUALS_ONLY=$ONLY)"
[ "$n_nogun" -gt 0 ] && diag "$n_nogun lines not compared: GNU parallel is not installed"
if [ -n "${FORKPOOL_MANUALS_KEEP:-}" ]; then
    mkdir -p "$FORKPOOL_MANUALS_KEEP" && cp "$T/index" "$T/r/"* "$FORKPOOL_MANUALS_KEEP/"
fi
if [ -n "$flips" ]; then
    diag "lines whose class is not the catalogue's (flip the entry, or fix a regression):" $flips
fi
done_testing
