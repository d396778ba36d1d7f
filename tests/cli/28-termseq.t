#!/bin/sh
# --termseq SIG,MS,...: how a job is ended on --halt now, --timeout or a
# signal to the tool: each signal in turn to the job's process group, each
# followed by up to MS ms for it to end; SIGKILL after the last. By default
# GNU parallel's TERM,200,TERM,100,TERM,50,KILL,25, so a job that handles
# SIGTERM gets it more than once. The job below logs each signal it gets; it
# is ended by --halt now once it is ready (the other job waits for that),
# so no step races its start.
. "$(dirname "$0")/lib.sh"
. "$TESTDIR/gnu-compare.sh"

mkscript sigjob <<'EOF'
# sigjob DIR sig|wait: "sig" logs INT TERM USR1 HUP to DIR/log and lives on;
# "wait" fails as soon as "sig" is ready.
if [ "$2" = wait ]; then
    while [ ! -e "$1/ready" ]; do sleep 0.01; done
    exit 1
fi
for s in INT TERM USR1 HUP; do trap "echo Got $s >>$1/log" "$s"; done
echo $$ >"$1/pid"
: >"$1/ready"
while :; do sleep 0.02; done
EOF

# halted DIR ARGS...: the tool (or, with GNU=1, GNU parallel) runs sigjob
# twice under --halt now,fail=1 with ARGS; RC, the log in $LOG.
halted() {
    d=$T/$1
    shift
    mkdir "$d"
    if [ "${GNU:-0}" = 1 ]; then
        HOME=$PHOME timeout -k 5 $((60 * SCALE)) parallel --will-cite --halt now,fail=1 -j2 \
            "$@" "$B/sigjob" "$d" ::: sig wait >/dev/null 2>&1
        RC=$?
    else
        run --halt now,fail=1 -j2 "$@" "$B/sigjob" "$d" ::: sig wait
    fi
    LOG=$d/log
    touch "$LOG"
}

# The default: TERM, TERM, TERM, KILL (how many TERMs the job logs before
# the KILL depends on how fast its shell runs the trap: 1 to 3).
halted default
is "$RC" 1 "default: --halt now after one failure, exit 1"
ok "default: the job got only SIGTERMs" sh -c "! grep -qv '^Got TERM\$' '$LOG'"
n=$(wc -l <"$LOG" | tr -d ' ')
ok "default: 1 to 3 SIGTERMs ($n)" test "$n" -ge 1 -a "$n" -le 3
ok "default: the job that ignored SIGTERM is gone" wait_dead 10 "$(cat "$T/default/pid")"

# Each signal in order, each wait long enough for the trap to run.
halted seq --termseq INT,1000,USR1,1000,TERM,1000,KILL
same_str "$LOG" "INT,1000,USR1,1000,TERM,1000,KILL: each signal in order" \
    'Got INT\nGot USR1\nGot TERM\n'
ok "INT,...,KILL: the job is gone" wait_dead 10 "$(cat "$T/seq/pid")"
if [ "$HAVE" = 1 ]; then
    GNU=1 halted gnu-seq --termseq INT,1000,USR1,1000,TERM,1000,KILL
    same "$T/seq/log" "$T/gnu-seq/log" "INT,...,KILL: the same signals as GNU parallel sends"
else
    skip "INT,...,KILL: the same signals as GNU parallel sends" "parallel not installed"
fi

# Names as kill(1) takes them: with or without SIG, any case, or numbers.
halted names --termseq sigusr1,1000,Hup,1000,9
same_str "$LOG" "sigusr1,1000,Hup,1000,9: USR1 then HUP" 'Got USR1\nGot HUP\n'

# A sequence that does not end with KILL still ends the job (GNU parallel
# would leave it running): SIGKILL after the last step's wait.
halted nokill --termseq USR1,1000,HUP,1000
same_str "$LOG" "USR1,1000,HUP,1000: both signals" 'Got USR1\nGot HUP\n'
ok "USR1,1000,HUP,1000: the job is gone (SIGKILL after the last step)" \
    wait_dead 10 "$(cat "$T/nokill/pid")"

# KILL first: no signal the job can see.
halted kill --termseq KILL
empty "$LOG" "KILL: the job logged nothing"
ok "KILL: the job is gone" wait_dead 10 "$(cat "$T/kill/pid")"

# --timeout uses the sequence too (the job must have started in time).
mkdir "$T/to"
run --timeout $((2 * SCALE)) --termseq INT,1000,KILL "$B/sigjob" "$T/to" ::: sig
is "$RC" 1 "--timeout with --termseq: exit 1"
ok "--timeout: the job had started before its timeout" test -e "$T/to/ready"
same_str "$T/to/log" "--timeout with INT,1000,KILL: the job got SIGINT" 'Got INT\n'
ok "--timeout: the job is gone" wait_dead 10 "$(cat "$T/to/pid")"

# So does a SIGTERM to the tool.
mkdir "$T/sig"
start_bg "$T/sig/out" "$T/sig/err" --termseq HUP,1000,KILL "$B/sigjob" "$T/sig" ::: sig
ok "SIGTERM to the tool: the job is ready" wait_file 20 "$T/sig/ready"
kill -TERM "$BG_PID"
wait_bg 20
is "$RC" 143 "SIGTERM to the tool: exit 143"
same_str "$T/sig/log" "SIGTERM to the tool: the job got SIGHUP" 'Got HUP\n'
ok "SIGTERM to the tool: the job is gone" wait_dead 10 "$(cat "$T/sig/pid")"

# Bad sequences: exit 255 before any job runs.
for bad in '' TERM,,KILL TERM,100, ,100 NOSUCH,100 0,100 99,100 TERM,-1 TERM,1e3 \
    TERM,86400001 \
    1,1,2,2,3,3,4,4,5,5,6,6,7,7,8,8,10,10,11,11,12,12,13,13,14,14,15,15,16,16,17,17,18,18; do
    usage_error "--termseq '$bad'" --termseq --termseq "$bad" echo ::: x
done
run --termseq=TERM,10 --term-seq USR1 echo ::: x
is "$RC" 0 "--termseq=SEQ and --term-seq: accepted, exit 0"
same_str "$OUT" "--termseq=SEQ, --term-seq: the job ran" 'x\n'

done_testing
