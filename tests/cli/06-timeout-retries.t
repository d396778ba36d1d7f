#!/bin/sh
# --timeout SECS (fractional): the job (and what it started) is killed, counts
# as failed, its output so far is printed; --retries N: a failing job runs up
# to N times in all.
. "$(dirname "$0")/lib.sh"

TO=$(awk "BEGIN { print 0.5 * $SCALE }")

run --timeout "$TO" -k "$B/job" "$T" ::: hang-1 ok-2
is "$RC" 1 "--timeout $TO: one job timed out, exit 1"
same_str "$OUT" "--timeout: the other job's output" 'ok 2\n'
ok "--timeout: the timed-out job had started" test -s "$T/pid-1"
ok "--timeout: the timed-out job is gone" wait_dead 10 "$(cat "$T/pid-1")"

run --timeout "$TO" -j3 "$B/job" "$T" ::: hang-3 hangtree-4 ok-5
is "$RC" 2 "--timeout: two timed out of three, exit 2"
ok "--timeout: the jobs had started" test -s "$T/pid-3" -a -s "$T/pid-4" -a -s "$T/pid-4-child"
ok "--timeout: timed-out jobs and their children are gone" \
    wait_dead 10 "$(cat "$T/pid-3")" "$(cat "$T/pid-4")" "$(cat "$T/pid-4-child")"

# output printed before the timeout is kept
run --timeout "$TO" sh -c 'echo "before $1"; echo "$1 err" >&2; echo $$ >"$0/pid-6"; exec sleep 1000' "$T" ::: x
is "$RC" 1 "--timeout: exit 1"
same_str "$OUT" "--timeout: stdout written before the kill is printed" 'before x\n'
ok "--timeout: stderr written before the kill is printed" grep -qx 'x err' "$ERR"
ok "--timeout: job gone" wait_dead 10 "$(cat "$T/pid-6")"

# jobs shorter than the limit are not affected
run --timeout 30 -k "$B/exitwith" ::: 0 0 0
is "$RC" 0 "--timeout 30 with quick jobs: exit 0"
run --timeout 2.5 -k echo ::: a b
is "$RC" 0 "--timeout 2.5: exit 0"
same_str "$OUT" "--timeout 2.5: quick jobs' output" 'a\nb\n'

# --retries
mkdir "$T/r3"
run --retries 3 "$B/counter" ::: "$T/r3"
is "$RC" 0 "--retries 3, job succeeds on its 3rd run: exit 0"
is "$(cat "$T/r3/count")" 3 "--retries 3: the job ran 3 times"
same_str "$OUT" "--retries 3: stdout of the last run only (as GNU parallel)" 'attempt 3\n'
same_str "$ERR" "--retries 3: stderr of the last run only (as GNU parallel)" 'attempt 3 err\n'

mkdir "$T/r2"
run --retries 2 "$B/counter" ::: "$T/r2"
is "$RC" 1 "--retries 2, job would succeed on its 3rd run: exit 1"
is "$(cat "$T/r2/count")" 2 "--retries 2: the job ran 2 times in all"
same_str "$OUT" "--retries 2: stdout of the last run" 'attempt 2\n'

mkdir "$T/r1"
run --retries 1 "$B/counter" ::: "$T/r1"
is "$RC" 1 "--retries 1: exit 1"
is "$(cat "$T/r1/count")" 1 "--retries 1: ran once"

mkdir "$T/rn"
run "$B/counter" ::: "$T/rn"
is "$(cat "$T/rn/count")" 1 "no --retries: ran once"

mkdir "$T/ra" "$T/rb"
run --retries 5 -k -j2 "$B/counter" ::: "$T/ra" "$T/rb"
is "$RC" 0 "--retries 5, two jobs: exit 0"
is "$(cat "$T/ra/count") $(cat "$T/rb/count")" "3 3" "--retries 5: each job ran until it succeeded (3 runs)"
same_str "$OUT" "--retries -k: each job's last output, in order" 'attempt 3\nattempt 3\n'

# a succeeding job is not retried
mkdir "$T/rs"
run --retries 4 sh -c 'echo x >>"$0/count"' "$T/rs" ::: a
is "$(wc -l <"$T/rs/count" | tr -d ' ')" 1 "--retries: a succeeding job runs once"

done_testing
