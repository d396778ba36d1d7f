#!/bin/sh
# The tool's own standard streams: a reader that goes away (| head) stops
# the run quietly with 141, killing what runs, grandchildren included; a
# closed stdin or stdout is not mistaken for another fd.
. "$(dirname "$0")/lib.sh"

d=$T/head
mkdir "$d"
# Job "hang" runs until killed, with a grandchild; job "flood" waits until
# both exist, then prints a lot at once.
mkscript mix <<EOF2
if [ "\$1" = flood ]; then "$B/waitfile" "$d/pid-2" "$d/pid-2-child"; seq 200000;
else exec "$B/job" "$d" hangtree-2; fi
EOF2
fp -j2 "$B/mix" ::: hang flood 2>"$d/err" | head -1 >"$d/first" &
if wait_file 20 "$d/pid-2" "$d/pid-2-child"; then pass "the long job and its grandchild started"; else fail "the long job and its grandchild started"; fi
wait
same_str "$d/first" "head got the first line" '1\n'
ok "the running job is gone after the reader left" wait_dead 10 "$(cat "$d/pid-2")"
ok "and its grandchild" wait_dead 10 "$(cat "$d/pid-2-child")"
empty "$d/err" "nothing said about the broken pipe"

# The status itself, without a subshell in between.
mkscript flood <<'EOF2'
seq 200000
EOF2
perl -e 'open(my $r, "-|", @ARGV) or die; my $l = <$r>; close($r); exit(($? >> 8) || ($? & 127) + 128)' \
    timeout 20 $FORKPOOL_WRAP "$FORKPOOL_BIN" -j1 "$B/flood" ::: 1 2 >/dev/null 2>&1
is "$?" 141 "the tool exits 141 when its reader is gone"

# `| head -1` (issue #12): once the reader is gone the tool leaves at once,
# quietly, with SIGPIPE's status, and kills the jobs still running, even
# ones that print nothing more (it used to wait for one of them to print).
mkscript long <<'EOF2'
echo "$1"
[ "$1" = first ] || exec sleep 3601.5
EOF2
perl -e 'open(my $r, "-|", @ARGV) or die; my $l = <$r>; close($r); exit(($? >> 8) || ($? & 127) + 128)' \
    timeout $((60 * SCALE)) $FORKPOOL_WRAP "$FORKPOOL_BIN" -k -j3 "$B/long" ::: first second third \
    >/dev/null 2>"$d/err5"
is "$?" 141 "| head -1 with jobs still running: exit 141, not after the timeout"
empty "$d/err5" "and nothing on stderr"
ok "no job left running" sh -c "! pgrep -f 'sleep 3601[.]5' >/dev/null"

# Closed stdin: inputs are empty, no hang (a signalfd on fd 0 read as stdin
# would hang forever).
timeout -k 5 $((20 * SCALE)) $FORKPOOL_WRAP "$FORKPOOL_BIN" echo 0<&- >"$d/out3" 2>"$d/err3"
is "$?" 0 "stdin closed: no inputs, exit 0, no hang"
empty "$d/out3" "and no output"

# Closed stdout: /dev/null takes its place, so job output is not written
# into one of the tool's own fds (its signalfd would be fd 1).
timeout -k 5 $((20 * SCALE)) $FORKPOOL_WRAP "$FORKPOOL_BIN" echo ::: a 1>&- 2>"$d/err4"
is "$?" 0 "stdout closed: the run completes, output discarded, no hang"
empty "$d/err4" "and no error"
done_testing
