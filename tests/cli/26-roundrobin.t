#!/bin/sh
# --roundrobin (with --pipe): at most -j jobs, each fed blocks until the
# input ends; every record reaches exactly one job, whole; the FIFOs and
# their directory are gone after the run, however the jobs end. Compared
# with GNU parallel where the outcome does not depend on timing.
. "$(dirname "$0")/lib.sh"
. "$TESTDIR/gnu-compare.sh"
cd "$T/work" || exit 1

seq 1000000 >big        # 6.9 MB: 7 blocks of 1 MB
seq 10 >ten
seq 200 >n200
seq 100000 >n100k
mkdir "$T/rt"
TMPDIR=$T/rt
export TMPDIR

# totals FILE: the number of jobs (wc lines) and what they counted in all
totals() { awk '{ l += $1; w += $2; c += $3 } END { print NR, l, w, c }' "$1"; }

# The tutorial's line: 7 blocks, -j4: 4 jobs share them
run_in big --pipe -j4 --roundrobin wc
is "$RC" 0 "7 blocks, -j4: exit 0"
is "$(totals "$OUT")" "4 1000000 1000000 6888896" "7 blocks, -j4: 4 jobs, every line counted once"
if [ "$HAVE" = 1 ]; then
    HOME=$PHOME parallel --will-cite --pipe -j4 --roundrobin wc <big >"$T/p.out"
    is "$(totals "$OUT")" "$(totals "$T/p.out")" "... as GNU parallel's 4 jobs"
else
    skip "... as GNU parallel's 4 jobs" "parallel not installed"
fi
compare "fewer blocks than -j: one job" ten -- --pipe -j4 --roundrobin wc
compare_sorted "-N 50 -j50 over 200 records: 4 jobs (--round-robin)" n200 -- \
    --pipe -N 50 --round-robin -j50 wc
printf '#!/bin/sh\necho "$1 $2"\ncat\n' >"$B/jobid"
chmod +x "$B/jobid"
compare_sorted "-N3 -j4: each job starts with its block ({#} {%})" ten -- \
    --pipe -N3 -j4 --round "$B/jobid" {#} {%}
compare "empty input: no job" /dev/null -- --pipe --roundrobin wc

# Many blocks, few jobs: every line once, whole, in at most -j jobs
run_in n100k --roundrobin -j3 --block 10k --shell 'cat; echo END'
is "$RC" 0 "100k lines in 10k blocks, -j3: exit 0"
grep -v END "$OUT" | sort -n >"$T/lines"
same "$T/lines" n100k "every line reached one job, whole"
ok "at most 3 jobs ran ($(grep -c END "$OUT"))" test "$(grep -c END "$OUT")" -le 3 -a \
    "$(grep -c END "$OUT")" -ge 2
empty "$ERR" "nothing on stderr"

# The input ends before a job has opened its FIFO: what it was given stays
printf 'a\n' >one
for i in 1 2 3 4 5; do
    run_in one --roundrobin cat
    [ "$RC" = 0 ] && [ "$(cat "$OUT")" = a ] || break
done
is "$(cat "$OUT")" a "one short line, five runs: the job read it every time (EOF after it)"

# Jobs that end early: no hang, the run goes on with new jobs
run_in n100k --roundrobin -j2 --block 10k head -1
is "$RC" 0 "jobs that read one line and exit: exit 0"
ok "... each printed its first line ($(wc -l <"$OUT") jobs)" test "$(wc -l <"$OUT")" -ge 1
printf '#!/bin/sh\nread x\nexit 3\n' >"$B/fail3"
chmod +x "$B/fail3"
run_in n100k --roundrobin -j2 --block 10k "$B/fail3"
ok "jobs that fail: their count as exit status ($RC)" test "$RC" -ge 1 -a "$RC" -le 101
run_in ten --roundrobin -j2 --timeout 1 sleep 60
is "$RC" 2 "--timeout: both jobs (the one no block reached too) killed, exit 2 as in GNU parallel"
is "$(ls -A "$T/rt")" "" "no FIFO or directory left in TMPDIR after any of these runs"

# Fewer blocks than -j: all -j jobs run, as in GNU parallel; those no block
# reached read nothing, count in the exit status, and print and log nothing
mkdir "$T/marks"
printf '#!/bin/sh\ntouch "%s/ran.$1"\nread x || exit 3\necho "$x"\n' "$T/marks" >"$B/mark"
chmod +x "$B/mark"
seq 4 >four
run_in four --pipe -N1 -j10 --roundrobin -v --joblog "$T/rr.log" "$B/mark" {#}
is "$RC" 6 "4 blocks, -j10: the 6 jobs given nothing failed: exit 6"
is "$(ls "$T/marks" | wc -l)" 10 "... all 10 jobs ran"
is "$(grep -vc "^$B/mark" "$OUT")" 4 "... only the 4 given a block printed"
is "$(grep -c "^$B/mark" "$OUT")" 4 "... -v showed only their commands"
is "$(tail -n +2 "$T/rr.log" | wc -l)" 4 "... and only they are in the joblog"
compare "the same with -k, against GNU parallel (exit 6)" four -- -k --pipe -N1 -j10 --roundrobin "$B/mark" {#}

# -k: output in job order
run_in big -k --pipe -j3 --roundrobin --shell 'echo {#}; wc -l >/dev/null'
same_str "$OUT" "-k: the jobs' outputs in their order" '1\n2\n3\n'

# A job that closes its stdin and runs on until the other has read all:
# no further block goes to it (it lost what its FIFO held, at most 64 KiB
# and its block, as a pipe's reader would), and the other is not held back.
rm -rf "$T/closer" "$T/read-all"
printf '#!/bin/sh\nif mkdir "%s/closer" 2>/dev/null; then\n  exec 0<&-; i=0\n  while [ ! -e "%s/read-all" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n  echo "naps $i"\nelse\n  wc -l; touch "%s/read-all"\nfi\n' "$T" "$T" "$T" >"$B/closer"
chmod +x "$B/closer"
run_in n100k --pipe -j2 --block 10k --roundrobin "$B/closer"
is "$RC" 0 "a job that closed its stdin: exit 0"
n=$(grep -v naps "$OUT")
ok "... the other counted nearly every line ($n of 100000; the closer's FIFO took at most 64 KiB)" \
    test "${n:-0}" -gt 80000
naps=$(sed -n 's/^naps //p' "$OUT")
ok "... and the closer saw it do so before its 30 s were up (after $naps of 600 naps)" \
    test "${naps:-600}" -lt 600

# refused, with a reason
usage_error "--roundrobin --retries 2" "--retries" --roundrobin --retries 2 wc
usage_error "--roundrobin --pipepart" "--pipe" --roundrobin --pipepart -a big wc
usage_error "--roundrobin, a --tmpdir that does not exist" "nonexistent" \
    --roundrobin --tmpdir "$T/nonexistent" wc
# TMPDIR is where the FIFOs' directory goes (valgrind needs it for itself)
if [ -z "$FORKPOOL_WRAP" ]; then
    TMPDIR=$T/ten
    usage_error "--roundrobin, TMPDIR a file" "cannot make a directory" --roundrobin wc
else
    for w in "exit 255" "nothing on stdout" "message names 'cannot make a directory'"; do
        skip "--roundrobin, TMPDIR a file: $w" "valgrind needs TMPDIR itself"
    done
fi

done_testing
