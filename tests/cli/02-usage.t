#!/bin/sh
# Exit statuses: 0 all succeeded, N failed jobs (1..100), 101 for more than
# 100; 255 and a one-line message for usage errors; a program that is not
# found is a failed job with `forkpool: cannot run 'PROG': ...`.
. "$(dirname "$0")/lib.sh"

# usage_error NAME WORD ARGS...: exit 255, nothing on stdout, one line on
# stderr that contains WORD.
usage_error() {
    _n=$1
    _w=$2
    shift 2
    run "$@"
    is "$RC" 255 "$_n: exit 255"
    empty "$OUT" "$_n: nothing on stdout"
    is "$(wc -l <"$ERR" | tr -d ' ')" 1 "$_n: one line on stderr"
    if grep -qF -e "$_w" "$ERR"; then pass "$_n: message names '$_w'"; else
        fail "$_n: message names '$_w'"
        diag_file stderr "$ERR"
    fi
}

: >"$T/work/ran"
usage_error "unknown long option" --bogus-option --bogus-option echo ::: a
usage_error "unknown short option" -Q -Q echo ::: a
# No COMMAND is not an error: each input is a command (tests/cli/16-inputs.t).
usage_error "unreadable :::: file" "$T/no-such-file" echo :::: "$T/no-such-file"
chmod 000 "$T/work/ran"
if [ "$(id -u)" = 0 ]; then
    skip "unreadable (mode 000) :::: file" "root can read any file"
else
    usage_error "mode-000 :::: file" "$T/work/ran" echo :::: "$T/work/ran"
fi
chmod 644 "$T/work/ran"
usage_error "-j abc" abc -j abc echo ::: a
usage_error "-j 1.5" 1.5 -j 1.5 echo ::: a
usage_error "-j 2x" 2x -j 2x echo ::: a
usage_error "-j without a value" -j -j
usage_error "--timeout abc" abc --timeout abc echo ::: a
usage_error "--retries x" x --retries x echo ::: a
usage_error "--halt bogus" bogus --halt bogus echo ::: a
usage_error "--joblog in a missing directory" "$T/nodir/log" --joblog "$T/nodir/log" echo ::: a

# a usage error runs nothing
run --bogus-option "$B/job" "$T" ok-1 ::: x
ok "a usage error runs no job" test ! -e "$T/ran-1"

# program not found: a failed job, not a usage error
run nosuch-prog-xyz ::: 1
is "$RC" 1 "program not found: exit 1 (one failed job)"
empty "$OUT" "program not found: nothing on stdout"
same_str "$ERR" "program not found: exact message on stderr" \
    "forkpool: cannot run 'nosuch-prog-xyz': No such file or directory\n"

run -k nosuch-prog-xyz ::: 1 2 3
is "$RC" 3 "program not found for 3 inputs: exit 3"
is "$(grep -c "cannot run 'nosuch-prog-xyz'" "$ERR")" 3 "program not found: one message per job"

run "$T/no/such/path" ::: 1
is "$RC" 1 "absolute path not found: exit 1"
ok "absolute path not found: message names the program" grep -qF "cannot run '$T/no/such/path'" "$ERR"

printf 'echo hi\n' >"$T/noexec"
chmod 644 "$T/noexec"
run "$T/noexec" ::: 1
is "$RC" 1 "not executable: exit 1"
if grep -qF "cannot run '$T/noexec': Permission denied" "$ERR"; then
    pass "not executable: message names the program and the reason"
else
    fail "not executable: message names the program and the reason"
    diag_file stderr "$ERR"
fi

# a job not found does not stop the others ({} as the command)
run -k {} ok ::: nosuch-prog-xyz echo
is "$RC" 1 "one program of two not found: exit 1"
same_str "$OUT" "one program of two not found: the other job ran" 'ok\n'

run -k "$B/exitwith" ::: 0 0
is "$RC" 0 "all jobs succeed: exit 0"

# exit status = number of failed jobs
run -k "$B/exitwith" ::: 0 1 2 0 5 255
is "$RC" 4 "4 of 6 jobs fail (statuses 1 2 5 255): exit 4"

run -k false ::: 1 2 3
is "$RC" 3 "3 x false: exit 3"

# killed by a signal counts as failed
run -k sh -c 'kill -9 $$' ::: 1 2
is "$RC" 2 "2 jobs killed by SIGKILL: exit 2"

seq 1 100 >"$T/100"
seq 1 101 >"$T/101"
seq 1 150 >"$T/150"
run_in "$T/100" -j8 false
is "$RC" 100 "100 x false: exit 100"
run_in "$T/101" -j8 false
is "$RC" 101 "101 x false: exit 101"
run_in "$T/150" -j8 false
is "$RC" 101 "150 x false: exit 101"
run_in "$T/101" -j8 true
is "$RC" 0 "101 x true: exit 0"

done_testing
