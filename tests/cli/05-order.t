#!/bin/sh
# -k orders output by input whatever the finishing order; one job's output is
# never interleaved with another's; -j limits (and reaches) concurrency:
# -j 1 serialises, -j N, -j 0, -j N%, the default (online CPUs).
. "$(dirname "$0")/lib.sh"

# jobs that end in reverse input order (each waits for the next one's end)
mkdir "$T/c1"
run -k -j5 "$B/chain" "$T/c1" 5 ::: 1 2 3 4 5
is "$RC" 0 "-k, jobs ending in reverse order: exit 0"
same_str "$OUT" "-k: output in input order although jobs ended in reverse" '1\n2\n3\n4\n5\n'

mkdir "$T/c2"
run -j5 "$B/chain" "$T/c2" 5 ::: 1 2 3 4 5
is "$RC" 0 "no -k, jobs ending in reverse order: exit 0"
sort "$OUT" >"$T/s"
same_str "$T/s" "no -k: every job's output once" '1\n2\n3\n4\n5\n'

# sleep-based: -k must reorder whatever the timing
run -k -j4 "$B/sleepecho" ::: 0.3 0.2 0.1 0
same_str "$OUT" "-k with sleeps 0.3 0.2 0.1 0: input order" '0.3\n0.2\n0.1\n0\n'

# -k with a failing job in the middle keeps its place
run -k -j3 sh -c 'sleep "$1"; echo "$1"; [ "$1" != 0.1 ]' sh ::: 0.2 0.1 0
is "$RC" 1 "-k with one failing job: exit 1"
same_str "$OUT" "-k: a failed job's output keeps its place" '0.2\n0.1\n0\n'

# no interleaving: 4 jobs at once printing 40 lines each, slowly, on both
# streams; each job's lines must be contiguous and in order
run -j4 "$B/slowprint" '{}' 40 ::: A B C D
is "$RC" 0 "4 slow printers at -j4: exit 0"
is "$(wc -l <"$OUT" | tr -d ' ')" 160 "4 slow printers: 160 stdout lines"
is "$(wc -l <"$ERR" | tr -d ' ')" 160 "4 slow printers: 160 stderr lines"
is "$(check_grouped "$OUT")" "" "stdout: no job's lines interleaved with another's"
is "$(check_grouped "$ERR")" "" "stderr: no job's lines interleaved with another's"

run -k -j4 "$B/slowprint" '{}' 30 ::: A B C
: >"$T/exp"
for id in A B C; do
    i=1
    while [ $i -le 30 ]; do echo "$id out $i" >>"$T/exp"; i=$((i + 1)); done
done
same "$OUT" "$T/exp" "-k: slow printers' stdout whole and in input order"

# -j 1 serialises, in input order: S/E marks never overlap
: >"$T/log1"
run -j1 "$B/mark" "$T/log1" ::: 1 2 3 4 5
is "$RC" 0 "-j 1: exit 0"
same_str "$T/log1" "-j 1: jobs run one at a time, in input order" \
    'S 1\nE 1\nS 2\nE 2\nS 3\nE 3\nS 4\nE 4\nS 5\nE 5\n'

# -j 2: never more than 2 at once, and 2 at once is reached (barrier)
: >"$T/log2"
run -j2 "$B/mark" "$T/log2" ::: 1 2 3 4 5 6 7 8
is "$RC" 0 "-j 2: exit 0"
m=$(max_overlap "$T/log2")
ok "-j 2: at most 2 jobs at once (saw $m)" test "$m" -le 2 -a "$m" -ge 1
is "$(grep -c '^S' "$T/log2")" 8 "-j 2: all 8 jobs ran"

mkdir "$T/b2"
run -j2 "$B/barrier" "$T/b2" 2 ::: a b
is "$RC" 0 "-j 2: two jobs run at the same time (barrier of 2)"

# --jobs long form (GNU parallel spelling)
mkdir "$T/b2l"
run --jobs 2 "$B/barrier" "$T/b2l" 2 ::: a b
is "$RC" 0 "--jobs 2: two jobs at the same time"

# -j 3 with 5 barrier-of-3 jobs would deadlock: instead check the cap with marks
: >"$T/log3"
run -j3 "$B/mark" "$T/log3" ::: 1 2 3 4 5 6 7 8 9
m=$(max_overlap "$T/log3")
ok "-j 3: at most 3 jobs at once (saw $m)" test "$m" -le 3 -a "$m" -ge 1

# -j 0: as many as possible: 6 jobs all at once
mkdir "$T/b0"
run -j0 "$B/barrier" "$T/b0" 6 ::: 1 2 3 4 5 6
is "$RC" 0 "-j 0: 6 jobs run at the same time"

# default: online CPUs ($NCPU): NCPU jobs at once, never more
mkdir "$T/bd"
seq 1 "$NCPU" >"$T/ncpu"
run_in "$T/ncpu" "$B/barrier" "$T/bd" "$NCPU"
is "$RC" 0 "default -j: $NCPU jobs (online CPUs) at the same time"
: >"$T/logd"
seq 1 $((NCPU * 2 + 2)) >"$T/ncpu2"
run_in "$T/ncpu2" "$B/mark" "$T/logd"
m=$(max_overlap "$T/logd")
ok "default -j: at most $NCPU jobs at once (saw $m)" test "$m" -le "$NCPU" -a "$m" -ge 1

# -j N%: of online CPUs, at least 1
: >"$T/logp"
run -j 1% "$B/mark" "$T/logp" ::: 1 2 3 4
is "$RC" 0 "-j 1%: exit 0"
if [ "$NCPU" -lt 100 ]; then
    same_str "$T/logp" "-j 1%: at least 1 job, here exactly 1 at a time" \
        'S 1\nE 1\nS 2\nE 2\nS 3\nE 3\nS 4\nE 4\n'
else
    skip "-j 1%: at least 1 job" "100 or more CPUs"
fi

mkdir "$T/b200"
n200=$((NCPU * 2))
seq 1 "$n200" >"$T/n200"
run_in "$T/n200" -j 200% "$B/barrier" "$T/b200" "$n200"
is "$RC" 0 "-j 200%: $n200 jobs at the same time"

: >"$T/log50"
run -j 50% "$B/mark" "$T/log50" ::: 1 2 3 4 5 6
m=$(max_overlap "$T/log50")
half=$(((NCPU + 1) / 2))
ok "-j 50%: at most ceil($NCPU/2)=$half at once (saw $m)" test "$m" -le "$half" -a "$m" -ge 1

# -j -N: CPUs minus N, at least 1; -j +N: CPUs plus N (GNU parallel)
: >"$T/logm"
run -j -1 "$B/mark" "$T/logm" ::: 1 2 3 4 5 6
is "$RC" 0 "-j -1: exit 0"
m=$(max_overlap "$T/logm")
cap=$((NCPU - 1))
[ "$cap" -lt 1 ] && cap=1
ok "-j -1: at most max(1, $NCPU-1)=$cap at once (saw $m)" test "$m" -le "$cap" -a "$m" -ge 1

mkdir "$T/bp"
np=$((NCPU + 1))
seq 1 "$np" >"$T/np"
run_in "$T/np" -j +1 "$B/barrier" "$T/bp" "$np"
is "$RC" 0 "-j +1: $np jobs (CPUs + 1) at the same time"

done_testing
