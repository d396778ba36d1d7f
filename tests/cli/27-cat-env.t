#!/bin/sh
# --cat (with --pipe/--pipepart: each job's input in a file of its own,
# named by {}, removed when the job ends) and the variables GNU parallel
# sets in every job's environment ($PARALLEL_SEQ, $PARALLEL_JOBSLOT,
# $PARALLEL_PID; $PARALLEL_TMP with --cat). Compared with GNU parallel where
# the output does not hold a temporary file's name.
. "$(dirname "$0")/lib.sh"
. "$TESTDIR/gnu-compare.sh"
cd "$T/work" || exit 1

seq 10 >ten
seq 100000 >n100k
mkdir "$T/ct"
TMPDIR=$T/ct
export TMPDIR

# {} is the file; the job reads it, not its stdin (scripts, as GNU parallel
# has no --shell)
printf '#!/bin/sh\nwc -l < "$1"\n' >"$B/count"
printf '#!/bin/sh\ncat\nwc -l < "$1"\n' >"$B/stdin-then-count"
printf '#!/bin/sh\necho "$1 $PARALLEL_SEQ $PARALLEL_JOBSLOT"\n' >"$B/vars"
chmod +x "$B/count" "$B/stdin-then-count" "$B/vars"
compare "-N3 --cat: each job counts its own file" ten -- -k --pipe -N3 --cat "$B/count" {}
compare "--cat without {}: the name is appended" ten -- -k --pipe -N4 --cat cat
compare "the job's stdin is empty" ten -- -k --pipe -N5 --cat "$B/stdin-then-count" {}
compare "--pipepart --cat: the parts as files" /dev/null -- -k --pipepart -a n100k --block 100k \
    --cat "$B/count" {}
is "$(ls -A "$T/ct")" "" "no file left in TMPDIR after these runs"

# a file per job, in --tmpdir, holding exactly the block; gone after the job
mkdir "$T/td"
printf '#!/bin/sh\nd=$(dirname "$1")\nprintf "%%s %%s %%s\\n" "$d" "$(cat "$1" | tr "\\n" ,)" "$PARALLEL_TMP"\n' \
    >"$B/show"
chmod +x "$B/show"
run_in ten -k --pipe -N4 --cat --tmpdir "$T/td" "$B/show" {}
is "$RC" 0 "--tmpdir: exit 0"
is "$(cut -d' ' -f1,2 "$OUT" | tr '\n' ';')" \
    "$T/td 1,2,3,4,;$T/td 5,6,7,8,;$T/td 9,10,;" "... the files are in --tmpdir and hold the blocks"
is "$(awk '{ print ($3 != "" && index($3, dir "/par") == 1) }' dir="$T/td" "$OUT" | tr -d '\n')" 111 \
    "... \$PARALLEL_TMP names the file"
is "$(ls -A "$T/td")" "" "... and they are removed"

# retries: every attempt reads the same file; failures remove it too
run_in ten --pipe --cat --retries 3 --shell 'wc -l < {}; exit 1'
is "$RC" 1 "a job failing 3 times: exit 1"
same_str "$OUT" "... its last attempt read the whole block" '10\n'
is "$(ls -A "$T/ct")" "" "... and its file is removed"

# --dry-run: no file; the name shows as $PARALLEL_TMP
run_in ten --pipe --cat --dry-run wc -l {}
same_str "$OUT" "--dry-run: the command with \$PARALLEL_TMP" "wc -l '\$PARALLEL_TMP'\n"
is "$(ls -A "$T/ct")" "" "... and no file made"

# refused or failing, with a reason
usage_error "--cat without --pipe" "--pipe" --cat wc -l {} ::: a
usage_error "--cat --roundrobin" "--roundrobin" --roundrobin --cat wc -l {}
if [ -z "$FORKPOOL_WRAP" ]; then
    TMPDIR=$T/work/ten
    run_in ten --pipe --cat wc -l {}
    TMPDIR=$T/ct
    is "$RC" 255 "--cat, TMPDIR a file: exit 255"
    empty "$OUT" "... nothing on stdout"
    ok "... the message names --cat and the directory" \
        grep -q -- "--cat: cannot write a file in '$T/work/ten'" "$ERR"
else
    for w in "exit 255" "nothing on stdout" "the message names --cat and the directory"; do
        skip "--cat, TMPDIR a file: $w" "valgrind needs TMPDIR itself"
    done
fi

# GNU parallel's variables
compare "\$PARALLEL_SEQ and \$PARALLEL_JOBSLOT" /dev/null -- -k -j1 "$B/vars" ::: a b c d
run -j3 --shell '[ "$PARALLEL_SEQ $PARALLEL_JOBSLOT" = "{#} {%}" ] && echo same' ::: 1 2 3 4 5 6
same_str "$OUT" "-j3: they are {#} and {%} in every job" 'same\nsame\nsame\nsame\nsame\nsame\n'
PARALLEL_SEQ=99 PARALLEL_JOBSLOT=99 PARALLEL_TMP=x
export PARALLEL_SEQ PARALLEL_JOBSLOT PARALLEL_TMP
run -j1 --shell 'echo $PARALLEL_SEQ $PARALLEL_JOBSLOT ${PARALLEL_TMP:-unset} {}' ::: a b
same_str "$OUT" "the job's own values replace those in the environment; no \$PARALLEL_TMP without --cat" \
    '1 1 unset a\n2 1 unset b\n'
unset PARALLEL_SEQ PARALLEL_JOBSLOT PARALLEL_TMP
run -k -j3 --shell 'echo $PARALLEL_PID; : {}' ::: a b c
is "$(sort -u "$OUT" | wc -l)" 1 "\$PARALLEL_PID: the same in every job"
ok "... a number" grep -qE '^[0-9]+$' "$OUT"

done_testing
