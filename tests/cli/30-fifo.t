#!/bin/sh
# --fifo (implies --pipe): each job reads its block from a FIFO that {}
# names, opened by the job itself; a job that never opens it, or stops
# reading, does not block the run; the FIFOs are gone afterwards. Compared
# with GNU parallel where the output does not name the FIFO.
. "$(dirname "$0")/lib.sh"
. "$TESTDIR/gnu-compare.sh"
cd "$T/work" || exit 1

seq 10 >ten
seq 200000 >big # 1.3 MB: two blocks of 1 MB
mkdir "$T/rt"
TMPDIR=$T/rt
export TMPDIR
printf '#!/bin/sh\nwc -l <"$1"\n' >"$B/count"
chmod +x "$B/count"

compare "-N3: each job counts its records through the FIFO" ten -- --fifo -N3 -k "$B/count" {}
compare "two blocks of 1 MB" big -- --fifo -k "$B/count" {}
run_in big --fifo --block 100k -k --shell 'cat {}'
is "$RC" 0 "100k blocks, read with cat: exit 0"
same "$OUT" big "... every byte, in order"
run_in ten --fifo -N5 -k --shell 'test "$PARALLEL_TMP" = {} && test -p {} && echo same'
same_str "$OUT" "\$PARALLEL_TMP names the FIFO too" 'same\nsame\n'
printf 'h\n1\n2\n' >hdr
compare "--header 1: the header first in every FIFO" hdr -- --fifo --header 1 -N1 -k cat {}

# Jobs that never open the FIFO, or stop early: no hang (GNU parallel
# blocks for ever on the first)
run_in ten --fifo -N2 echo no reader
is "$RC" 0 "a job that never opens its FIFO: exit 0, no hang"
is "$(wc -l <"$OUT")" 5 "... all 5 jobs ran"
run_in big --fifo --block 100k --shell 'head -n1 {} >/dev/null'
is "$RC" 0 "jobs that read one line and close the FIFO: exit 0"
run_in ten --fifo --shell 'cat {}; cat {}'
is "$RC" 1 "a job that opens its FIFO again after reading it: fails, no hang"
same "$OUT" ten "... it read its block the first time"
run_in ten --fifo -N1 -j1 -k cat '{= skip() if seq() == 2 =}'
is "$RC" 1 "a job skip()ped: counted as failed, as in GNU parallel"
empty "$ERR" "... nothing on stderr"
same_str "$OUT" "a job skip()ped: its FIFO goes, the next job reads its own block" \
    '1\n3\n4\n5\n6\n7\n8\n9\n10\n'
run_in big --fifo --shell 'exit 3'
is "$RC" 2 "two jobs that fail: exit 2"
run --fifo --dry-run cat {} ::: a
is "$RC" 255 "--fifo with ::: inputs: exit 255 (it implies --pipe)"
run_in ten --fifo --dry-run -N5 cat {}
same_str "$OUT" "--dry-run: \$PARALLEL_TMP for the name" "cat '\$PARALLEL_TMP'\ncat '\$PARALLEL_TMP'\n"
is "$(ls -A "$T/rt")" "" "no FIFO or directory left in TMPDIR after these runs"

# refused, with a reason
usage_error "--fifo --pipepart" "--cat" --fifo --pipepart -a ten cat {}
usage_error "--fifo --roundrobin" "--roundrobin" --fifo --roundrobin cat {}
usage_error "--fifo --cat" "--cat" --fifo --cat cat {}
usage_error "--fifo --retries 2" "--retries" --fifo --retries 2 cat {}

done_testing
