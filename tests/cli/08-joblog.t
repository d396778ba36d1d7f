#!/bin/sh
# --joblog FILE: GNU parallel's format. Header exact; one row per job with 9
# tab-separated fields: Seq, Host ":", Starttime (epoch, 3 decimals),
# JobRuntime (3 decimals), Send 0, Receive (stdout bytes), Exitval, Signal,
# Command (as the shell would show it: running it through sh gives the same
# argv).
. "$(dirname "$0")/lib.sh"

JL=$T/joblog
HEADER='Seq	Host	Starttime	JobRuntime	Send	Receive	Exitval	Signal	Command'

before=$(date +%s)
run --joblog "$JL" -k -j2 sh -c \
    'case $1 in ok) printf abcd ;; exit7) echo x; exit 7 ;; usr1) kill -USR1 $$ ;; big) seq 1 10000 ;; esac' \
    sh ::: ok exit7 usr1 big
after=$(date +%s)
is "$RC" 2 "joblog run: exit 2 (exit 7 and SIGUSR1)"

head -n 1 "$JL" >"$T/h"
same_str "$T/h" "joblog: header exact" '%s\n' "$HEADER"
is "$(wc -l <"$JL" | tr -d ' ')" 5 "joblog: header + 4 rows"
ok "joblog: every line ends with a newline" test "$(tail -c 1 "$JL" | od -An -c | tr -d ' ')" = '\n'
is "$(awk -F '\t' 'NF != 9' "$JL")" "" "joblog: every line has exactly 9 tab-separated fields"

# rows may come in finishing order: sort by Seq
tail -n +2 "$JL" | sort -n >"$T/rows"
is "$(cut -f 1 "$T/rows" | tr '\n' ' ')" "1 2 3 4 " "joblog: Seq 1..4, once each"
is "$(cut -f 2 "$T/rows" | sort -u)" ":" "joblog: Host is ':'"
is "$(cut -f 5 "$T/rows" | sort -u)" "0" "joblog: Send is 0"
is "$(cut -f 3 "$T/rows" | grep -cvE '^[0-9]+\.[0-9]{3}$')" 0 "joblog: Starttime is epoch seconds with 3 decimals"
is "$(cut -f 4 "$T/rows" | grep -cvE '^ *[0-9]+\.[0-9]{3}$')" 0 "joblog: JobRuntime is seconds with 3 decimals"
bad=$(cut -f 3 "$T/rows" | awk -v b="$before" -v a="$after" '$1 + 0 < b - 1 || $1 + 0 > a + 1')
is "$bad" "" "joblog: Starttime lies within the run (epoch seconds, not monotonic)"
is "$(cut -f 6 "$T/rows" | tr '\n' ' ')" "4 2 0 48894 " "joblog: Receive = bytes of stdout (4, 2, 0, 48894)"
is "$(cut -f 7 "$T/rows" | tr '\n' ' ')" "0 7 0 0 " "joblog: Exitval 0, 7, 0 (signal, as GNU parallel), 0"
is "$(cut -f 8 "$T/rows" | tr '\n' ' ')" "0 0 10 0 " "joblog: Signal 0, 0, 10 (SIGUSR1), 0"

# Command: run through sh, it gives the job's argv back
JL2=$T/joblog2
run --joblog "$JL2" -k "$B/args" 'fixed arg' ::: "it's" '$(touch pwned)' 'a b' '*' 'x"y' ''
is "$RC" 0 "joblog with special inputs: exit 0"
cp "$OUT" "$T/direct"
tail -n +2 "$JL2" | sort -n | cut -f 9- >"$T/cmds"
is "$(wc -l <"$T/cmds" | tr -d ' ')" 6 "joblog: 6 commands"
: >"$T/viash"
(cd "$T/work" && while IFS= read -r c; do sh -c "$c"; done <"$T/cmds" >"$T/viash")
same "$T/viash" "$T/direct" "joblog: Command, run through sh, reproduces every job's argv"
ok "joblog: Command quoting cannot inject" test ! -e "$T/work/pwned"

run --joblog "$JL2" -k echo ::: hello
tail -n 1 "$JL2" | cut -f 9 >"$T/c1"
same_str "$T/c1" "joblog: plain command shown plainly" 'echo hello\n'
is "$(wc -l <"$JL2" | tr -d ' ')" 2 "joblog: an existing file is overwritten"

# timed out, not found
TO=$(awk "BEGIN { print 0.5 * $SCALE }")
JL3=$T/joblog3
run --joblog "$JL3" --timeout "$TO" -k -j2 "$B/job" "$T" ::: hang-1 ok-2
is "$RC" 1 "joblog + timeout: exit 1"
row=$(awk -F '\t' '$1 == 1' "$JL3")
ev=$(printf '%s\n' "$row" | cut -f 7)
sg=$(printf '%s\n' "$row" | cut -f 8)
is "$ev/$sg" "-1/15" "joblog: a timed-out job: Exitval -1, Signal 15 (SIGTERM), as GNU parallel"
is "$(awk -F '\t' '$1 == 2 { print $7 "/" $8 }' "$JL3")" "0/0" "joblog + timeout: the other job 0/0"

JL4=$T/joblog4
run --joblog "$JL4" nosuch-prog-xyz ::: a
is "$RC" 1 "joblog + program not found: exit 1"
is "$(wc -l <"$JL4" | tr -d ' ')" 2 "joblog: a job that could not start has a row"
ev=$(tail -n 1 "$JL4" | cut -f 7)
ok "joblog: a job that could not start is not a success (Exitval $ev)" test -n "$ev" -a "$ev" != 0

done_testing
