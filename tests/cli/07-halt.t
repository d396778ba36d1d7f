#!/bin/sh
# --halt now,fail=1: the first failure kills running jobs and starts no more;
# --halt soon,fail=1: no new jobs, running ones finish (their output printed);
# --halt now,success=1: the first success ends everything with status 0;
# --halt never: the default.
. "$(dirname "$0")/lib.sh"

# now,fail=1 at -j2: a hanging job, a job failing once the hanging one started,
# a third job that must never start
run --halt now,fail=1 -j2 "$B/job" "$T" ::: hang-1 failafter-1 ok-3
isnt "$RC" 0 "--halt now,fail=1: non-zero exit (got $RC)"
ok "--halt now,fail=1: did not wait for the hanging job (not killed by the test's timeout)" \
    test "$RC" != 124 -a "$RC" != 137
ok "--halt now,fail=1: the hanging job had started" test -s "$T/pid-1"
ok "--halt now,fail=1: the running job was killed" wait_dead 10 "$(cat "$T/pid-1")"
ok "--halt now,fail=1: no job started after the failure" test ! -e "$T/ran-3"
ok "--halt now,fail=1: the failed job's output printed" grep -qx 'failafter 1' "$OUT"

# now,fail=1 at -j1: stops right after the first failure
run --halt now,fail=1 -j1 "$B/job" "$T" ::: ok-10 fail-11 ok-12 ok-13
isnt "$RC" 0 "--halt now,fail=1 -j1: non-zero exit"
ok "--halt now,fail=1 -j1: jobs before the failure ran" test -e "$T/ran-10" -a -e "$T/ran-11"
ok "--halt now,fail=1 -j1: jobs after the failure did not" test ! -e "$T/ran-12" -a ! -e "$T/ran-13"
same_str "$OUT" "--halt now,fail=1 -j1: output of the jobs that ran" 'ok 10\nfail 11\n'

# soon,fail=1 at -j2: job 20 fails; job 21 is running and ends after job 20
# was reaped; job 22 must never start; job 21's output is printed
run --halt soon,fail=1 -j2 "$B/job" "$T" ::: failreaped-20 waitreaped-20 ok-22
isnt "$RC" 0 "--halt soon,fail=1: non-zero exit (got $RC)"
ok "--halt soon,fail=1: the running job was waited for (its output printed)" grep -qx 'done 20' "$OUT"
ok "--halt soon,fail=1: the failed job's output printed" grep -qx 'failreaped 20' "$OUT"
ok "--halt soon,fail=1: no new job started" test ! -e "$T/ran-22"

# soon,fail=1 -j1
run --halt soon,fail=1 -j1 "$B/job" "$T" ::: fail-30 ok-31
isnt "$RC" 0 "--halt soon,fail=1 -j1: non-zero exit"
ok "--halt soon,fail=1 -j1: no job after the failure" test ! -e "$T/ran-31"

# now,success=1: the first success kills the rest, exit 0
run --halt now,success=1 -j2 "$B/job" "$T" ::: hang-40 okafter-40 ok-42
is "$RC" 0 "--halt now,success=1: exit 0"
ok "--halt now,success=1: the hanging job had started" test -s "$T/pid-40"
ok "--halt now,success=1: the running job was killed" wait_dead 10 "$(cat "$T/pid-40")"
ok "--halt now,success=1: no job started after the success" test ! -e "$T/ran-42"
ok "--halt now,success=1: the successful job's output printed" grep -qx 'okafter 40' "$OUT"

# success=1 after failures: the failures do not stop it
run --halt now,success=1 -j1 "$B/job" "$T" ::: fail-50 ok-51 ok-52
ok "--halt now,success=1: failures before the success do not halt" test -e "$T/ran-51"
ok "--halt now,success=1: nothing after the success" test ! -e "$T/ran-52"

# fail=2: the first failure does not halt, the second does
run --halt now,fail=2 -j1 "$B/job" "$T" ::: fail-60 ok-61 fail-62 ok-63
isnt "$RC" 0 "--halt now,fail=2: non-zero exit"
ok "--halt now,fail=2: kept going after the first failure" test -e "$T/ran-61" -a -e "$T/ran-62"
ok "--halt now,fail=2: stopped after the second" test ! -e "$T/ran-63"

# never (explicit) and the default: every job runs, status = failures
run --halt never -j1 "$B/job" "$T" ::: fail-70 ok-71 fail-72
is "$RC" 2 "--halt never: all jobs ran, exit 2"
ok "--halt never: the job after a failure ran" test -e "$T/ran-71"
run -j1 "$B/job" "$T" ::: fail-80 ok-81
is "$RC" 1 "no --halt: exit 1"
ok "no --halt: the job after a failure ran" test -e "$T/ran-81"

done_testing
