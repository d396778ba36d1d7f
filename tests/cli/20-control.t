#!/bin/sh
# Issue #12 item 6, control: --resume, --resume-failed, --retry-failed with
# --joblog; --delay; --timeout N%; --halt ...=N%; -jN%; --memfree; --load;
# compared with GNU parallel where the output is deterministic.
. "$(dirname "$0")/lib.sh"

if command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
    HAVE=1
else
    HAVE=0
fi
PHOME=$T/phome
mkdir "$PHOME"
gnu() {
    HOME=$PHOME timeout -k 5 $((60 * SCALE)) parallel --will-cite "$@" </dev/null >"$T/p.out" 2>"$T/p.err"
}
cd "$T/work" || exit 1
# The joblog without its times, sorted (jobs end in any order).
logcut() { cut -f 1,2,5-9 "$1" | sort; }

# --resume: the jobs the joblog names are not run again
run --joblog log --shell 'exit {}' ::: 1 2 3 0
is "$RC" 3 "first run: 3 failed"
run --resume --joblog log --shell 'exit {}' ::: 1 2 3 0 0 0
is "$RC" 0 "--resume: only jobs 5 and 6 ran, and succeeded"
logcut log >"$T/resume"
same_str "$T/resume" "--resume: the joblog appended (no second header)" \
    '1\t:\t0\t0\t1\t0\texit 1\n2\t:\t0\t0\t2\t0\texit 2\n3\t:\t0\t0\t3\t0\texit 3\n4\t:\t0\t0\t0\t0\texit 0\n5\t:\t0\t0\t0\t0\texit 0\n6\t:\t0\t0\t0\t0\texit 0\nSeq\tHost\tSend\tReceive\tExitval\tSignal\tCommand\n'
if [ "$HAVE" = 1 ]; then
    mkdir g && cd g || exit 1
    gnu --joblog log 'exit {}' ::: 1 2 3 0
    gnu --resume --joblog log 'exit {}' ::: 1 2 3 0 0 0
    logcut log >"$T/gresume"
    cd "$T/work" || exit 1
    same "$T/resume" "$T/gresume" "--resume: joblog as GNU parallel's"
else
    skip "--resume: joblog as GNU parallel's" "parallel not installed"
fi

# --resume-failed: the failed ones again
run --resume-failed --joblog log --shell 'exit {}' ::: 1 2 3 0 0 0
is "$RC" 3 "--resume-failed: the 3 failed jobs ran again"
logcut log >"$T/rf"
if [ "$HAVE" = 1 ]; then
    cd g || exit 1
    gnu --resume-failed --joblog log 'exit {}' ::: 1 2 3 0 0 0
    logcut log >"$T/grf"
    cd "$T/work" || exit 1
    same "$T/rf" "$T/grf" "--resume-failed: joblog as GNU parallel's"
else
    skip "--resume-failed: joblog as GNU parallel's" "parallel not installed"
fi
is "$(grep -c "exit 1" log)" 2 "--resume-failed: job 1 logged twice"

# --retry-failed: the failed commands of the joblog, the command line ignored
run --retry-failed --joblog log
is "$RC" 3 "--retry-failed: 3 failed again"
logcut log >"$T/retry"
if [ "$HAVE" = 1 ]; then
    cd g || exit 1
    gnu --retry-failed --joblog log
    logcut log >"$T/gretry"
    cd "$T/work" || exit 1
    same "$T/retry" "$T/gretry" "--retry-failed: joblog as GNU parallel's"
else
    skip "--retry-failed: joblog as GNU parallel's" "parallel not installed"
fi
printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n1\t:\t0\t0\t0\t0\t0\t0\techo ok\n2\t:\t0\t0\t0\t0\t1\t0\techo again\n' >log2
run --retry-failed --joblog log2 this part is ignored
same_str "$OUT" "--retry-failed: runs the failed command only" 'again\n'
tail -1 log2 | cut -f 1,7-9 >"$T/l"
same_str "$T/l" "--retry-failed: logged with its seq and command" '2\t0\t0\techo again\n'

# -k with --resume: the skipped numbers do not hold the output back
rm -f log3
run -k --joblog log3 echo ::: a b
run -k --resume --joblog log3 echo ::: a b c d
same_str "$OUT" "-k --resume: the new jobs in order" 'c\nd\n'

# bad uses
run --resume echo ::: a
is "$RC" 255 "--resume without --joblog: exit 255"
grep -q "needs --joblog" "$ERR"; ok "--resume without --joblog: message" test $? = 0
run --resume-failed --joblog - echo ::: a
is "$RC" 255 "--resume-failed --joblog -: exit 255"
run --retry-failed --joblog nosuch
is "$RC" 255 "--retry-failed with no joblog: exit 255"
printf 'garbage\n' >bad.log
run --resume --joblog bad.log echo ::: a
is "$RC" 255 "--resume with a joblog that is none: exit 255"
grep -q "not a joblog line" "$ERR"; ok "--resume with a bad joblog: message" test $? = 0

# --delay: starts at least SECS apart (bounded: 3 jobs, 0.3 s)
run --delay 0.3 sh -c 'date +%s.%N' ::: 1 2 3
is "$RC" 0 "--delay: exit 0"
# (0.15: a loaded machine may start one job's date later than the next's)
sort -n "$OUT" | awk 'NR > 1 && $1 - p < 0.15 { bad = 1 } { p = $1 } END { exit bad }'
ok "--delay 0.3: starts spaced" test $? = 0
run --delay 0.3 -k echo ::: a b
same_str "$OUT" "--delay: outputs" 'a\nb\n'
if [ "$HAVE" = 1 ]; then
    gnu --delay 0.3 -k echo ::: a b
    same "$OUT" "$T/p.out" "--delay: as GNU parallel"
else
    skip "--delay: as GNU parallel" "parallel not installed"
fi
for v in x -1 1q ''; do
    run --delay "$v" echo ::: a
    is "$RC" 255 "--delay '$v': exit 255"
done

# --timeout N%: a job running past N% of the median run time is killed
# (1000%, not the manual's 200%: a loaded machine may stretch the .3 s job)
run --timeout 1000% --shell 'sleep {}; echo {}' ::: .21 .22 .3 30 .23
is "$RC" 1 "--timeout 1000%: one job timed out"
sort "$OUT" >"$T/to"
same_str "$T/to" "--timeout 1000%: the others printed" '.21\n.22\n.23\n.3\n'
grep -q "timed out after .*sleep 30" "$ERR"; ok "--timeout 1000%: message" test $? = 0
if [ "$HAVE" = 1 ]; then
    gnu --timeout 1000% 'sleep {}; echo {}' ::: .21 .22 .3 7 .23
    sort "$T/p.out" >"$T/gto"
    same "$T/to" "$T/gto" "--timeout 1000%: as GNU parallel"
else
    skip "--timeout 1000%: as GNU parallel" "parallel not installed"
fi
run --timeout 200% sleep ::: 0.2
is "$RC" 0 "--timeout N% with no job done yet: no limit"
run --timeout 0% echo ::: a
is "$RC" 255 "--timeout 0%: exit 255"
run --timeout x% echo ::: a
is "$RC" 255 "--timeout x%: exit 255"

# --halt ...=N%: N% of all jobs
run -j1 --halt soon,fail=20% --shell 'echo {}; exit {}' ::: 0 1 2 3 4 5 6 7 8 9
is "$RC" 20 "--halt soon,fail=20%: exit 20 (20% failed)"
same_str "$OUT" "--halt soon,fail=20%: stops after 2 of 10 failed" '0\n1\n2\n'
if [ "$HAVE" = 1 ]; then
    gnu -j1 --halt soon,fail=20% 'echo {}; exit {}' ::: 0 1 2 3 4 5 6 7 8 9
    same "$OUT" "$T/p.out" "--halt soon,fail=20%: as GNU parallel"
    is "$RC" 20 "--halt soon,fail=20%: exit status as GNU parallel"
else
    skip "--halt soon,fail=20%: as GNU parallel" "parallel not installed"
    skip "--halt soon,fail=20%: exit status as GNU parallel" "parallel not installed"
fi
run -j1 --halt now,success=50% --shell 'echo {}; exit {}' ::: 1 0 0 2
is "$RC" 0 "--halt now,success=50%: exit 0"
same_str "$OUT" "--halt now,success=50%: stops at the 2nd success" '1\n0\n0\n'
# --halt ...=N% (met at the end, or never): the exit status is the percentage of
# the jobs run that failed, rounded up (GNU parallel's), not their count
for h in "soon,success=50% 1 1 0 0 1 1 1 1 1 1 1 1 84" "now,fail=90% 0 1 1 0 0 0 0 0 0 1 30" \
    "soon,done=100% 0 1 1 67"; do
    set -- $h
    halt=$1
    shift
    eval "want=\${$#}"
    args=$(echo "$@" | sed 's/ [0-9]*$//')
    # shellcheck disable=SC2086
    run -j1 --halt "$halt" --shell 'exit {}' ::: $args
    is "$RC" "$want" "--halt $halt: exit $want, the % of the jobs that failed"
    if [ "$HAVE" = 1 ]; then
        # shellcheck disable=SC2086
        gnu -j1 --halt "$halt" 'exit {}' ::: $args
        is "$?" "$want" "--halt $halt: GNU parallel's exit status is $want too"
    else
        skip "--halt $halt: GNU parallel's exit status" "parallel not installed"
    fi
done
# inputs on stdin: every input is read first, as GNU parallel does
seq 0 9 >in
run_in in -j1 --halt soon,fail=20% --shell 'echo {}; exit {}'
is "$RC" 20 "--halt soon,fail=20% with inputs on stdin: exit 20"
same_str "$OUT" "... stops after 2 of 10 failed" '0\n1\n2\n'
run_in in --pipe --halt soon,fail=10% cat
is "$RC" 255 "--halt ...=N% with --pipe: exit 255"
grep -q "give a count" "$ERR"; ok "--halt ...=N% with --pipe: message" test $? = 0
for v in soon,fail=0% soon,fail=101% soon,fail=x% now,done=%; do
    run --halt "$v" echo ::: a
    is "$RC" 255 "--halt $v: exit 255"
done

# -jN%: N% of the CPUs
run -j150% -k echo ::: a b c
same_str "$OUT" "-j150%: runs" 'a\nb\nc\n'
run -j150x echo ::: a
is "$RC" 255 "-j150x: exit 255"

# --memfree SIZE, --load MAX
if [ -r /proc/meminfo ] && grep -q MemAvailable /proc/meminfo; then
    run --memfree 1M echo will run if more than 1 MB is ::: free
    same_str "$OUT" "--memfree 1M: runs" 'will run if more than 1 MB is free\n'
    run --memfree 1k -k echo ::: a b
    same_str "$OUT" "--memfree 1k: runs" 'a\nb\n'
else
    skip "--memfree 1M: runs" "no /proc/meminfo"
    skip "--memfree 1k: runs" "no /proc/meminfo"
fi
for v in x 1Q -1 ''; do
    run --memfree "$v" echo ::: a
    is "$RC" 255 "--memfree '$v': exit 255"
done
if [ -r /proc/loadavg ]; then
    run --load 10000% echo load is less than {} job per cpu ::: 1
    same_str "$OUT" "--load 10000%: runs" 'load is less than 1 job per cpu\n'
    if [ "$HAVE" = 1 ]; then
        gnu --load 10000% echo load is less than {} job per cpu ::: 1
        same "$OUT" "$T/p.out" "--load 10000%: as GNU parallel"
    else
        skip "--load 10000%: as GNU parallel" "parallel not installed"
    fi
    run --load 1000000 -k echo ::: a b
    same_str "$OUT" "--load N: runs" 'a\nb\n'
else
    skip "--load 10000%: runs" "no /proc/loadavg"
    skip "--load 10000%: as GNU parallel" "no /proc/loadavg"
    skip "--load N: runs" "no /proc/loadavg"
fi
for v in x 5%% +x ''; do
    run --load "$v" echo ::: a
    is "$RC" 255 "--load '$v': exit 255"
done

done_testing
