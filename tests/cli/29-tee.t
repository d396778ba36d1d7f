#!/bin/sh
# --tee (with --pipe): every job reads all of standard input, one job per
# input of ::: (or -a), all at once; a job that ends early does not stop
# the others; -j must allow them all. Compared with GNU parallel where
# the output does not depend on timing.
. "$(dirname "$0")/lib.sh"
. "$TESTDIR/gnu-compare.sh"
cd "$T/work" || exit 1

seq 1000 >thousand
seq 2000000 >big # 14.9 MB: many pieces and blocks
seq 100000 >n100k
mkdir "$T/rt"
TMPDIR=$T/rt
export TMPDIR

# The manual's lines
compare "man parallel: wc -w, -l, -c of the same input (-v, and -k for the order)" \
    thousand -- --pipe --tee -k -v wc {} ::: -w -l -c
printf '#!/bin/sh\ngrep "$1" | wc "$2"\n' >"$B/grepwc"
chmod +x "$B/grepwc"
compare_sorted "man parallel: grep {1} | wc {2}, 20 jobs (--tag)" thousand -- \
    --pipe --tee --tag "$B/grepwc" {1} {2} ::: 0 1 2 3 4 5 6 7 8 9 ::: -l -c

# Every byte reaches every job, in order, through many pieces
run_in big --pipe --tee --shell ': {}; md5sum | cut -c1-32' ::: 1 2 3
is "$RC" 0 "15 MB to 3 jobs: exit 0"
want=$(md5sum <big | cut -c1-32)
same_str "$OUT" "... each job read it whole (its md5sum)" "$want\n$want\n$want\n"
empty "$ERR" "... nothing on stderr"

# Inputs from a file (-a), the number not known before the start
printf 'x\ny\nz\n' >args
run_in thousand -k --pipe --tee -a args --shell 'echo {}; wc -l'
is "$RC" 0 "-a FILE: exit 0"
same_str "$OUT" "... one job per line of the file, each read the 1000 lines" \
    'x\n1000\ny\n1000\nz\n1000\n'

# Jobs that end early: the others still get everything, no hang
run_in n100k -k --pipe --tee --shell 'eval {}' ::: 'head -n1' 'wc -l' 'head -n2 | tail -n1' true
is "$RC" 0 "jobs that stop reading (head, true): exit 0"
same_str "$OUT" "... the job that reads on gets every line" '1\n100000\n2\n'
run_in n100k --pipe --tee true ::: a b
is "$RC" 0 "no job reads at all: exit 0, no hang"
# A job that closes its stdin and runs on until the other has read all
# (588 KB, many FIFOs' worth): it is given nothing more, so the other
# is not held back (this deadlocked until the first job's timeout).
# closed_stdin PRE WHAT: the first job runs PRE before it closes its stdin.
closed_stdin() {
    rm -f "$T/read-all"
    run_in n100k -k --pipe --tee --shell 'eval {}' ::: \
        "$1 exec 0<&-; i=0; while [ ! -e '$T/read-all' ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i+1)); done; echo \$i" \
        "wc -l; touch '$T/read-all'"
    is "$RC" 0 "a job that closed its stdin $2 and waits for the other: exit 0"
    first=$(head -n1 "$OUT")
    is "$(tail -n1 "$OUT")" 100000 "... the other read every line"
    ok "... and the first saw it do so before its 30 s were up (after $first of 600 naps)" \
        test "$first" -lt 600
}
closed_stdin "" "at once"
# Closed only once the tool has filled its FIFO (a busy machine: the job
# starts late): the tool got EPIPE then but went back to reading its input
# only when that job ended.
closed_stdin "sleep 0.3;" "late"

# Failures count as usual
run_in thousand --pipe --tee --shell 'wc -l >/dev/null; exit {}' ::: 0 3 0 5
is "$RC" 2 "two jobs failed: exit 2"
is "$(ls -A "$T/rt")" "" "no FIFO or directory left in TMPDIR after these runs"

# -j must allow every job at once
usage_error "--tee -j1 with 3 inputs" "-j" --tee --pipe -j1 wc ::: a b c
run_in thousand --pipe --tee -j1 -a args wc
is "$RC" 255 "-a FILE with more lines than -j: exit 255"
grep -q "more inputs" "$ERR"
is $? 0 "... the message says there are more inputs than -j allows"
compare "-j3 for 3 inputs: allowed" thousand -- -k --pipe --tee -j3 wc {} ::: -l -w -c
run_in thousand --pipe --tee --dry-run wc {} ::: -l -c
same_str "$OUT" "--dry-run: the commands, nothing read" 'wc -l\nwc -c\n'

# with the other options
run_in thousand -k --pipe --tee --joblog "$T/tee.log" wc -l ::: a b
run_in thousand -k --pipe --tee --resume --joblog "$T/tee.log" --shell 'echo {}; wc -l' ::: a b c
same_str "$OUT" "--resume: only the job not in the joblog runs" 'c\n1000\n'
run_in thousand -k --pipe --tee --plus echo {##} ::: a b
same_str "$OUT" "{##}: the number of inputs" '2\n2\n'
run_in thousand --pipe --tee --dry-run --bar echo ::: a b
grep -q '100% 2/2' "$ERR"; ok "--dry-run --bar: both jobs counted done" test $? = 0

# refused, with a reason
usage_error "--tee, inputs from stdin (:::: -)" ":::: -" --pipe --tee wc :::: -
usage_error "--tee without --pipe" "--pipe" --tee echo ::: a
usage_error "--tee without inputs" "inputs" --pipe --tee wc
usage_error "--tee --pipepart" "--pipepart" --pipepart --tee -a thousand wc ::: a
usage_error "--tee --roundrobin" "--roundrobin" --roundrobin --tee wc ::: a
usage_error "--tee --cat" "--cat" --pipe --cat --tee wc ::: a
usage_error "--tee --retries 2" "--retries" --pipe --tee --retries 2 wc ::: a

done_testing
