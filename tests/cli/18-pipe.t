#!/bin/sh
# --pipe and --pipepart (issue #12 item 4): the same blocks, output and exit
# status as GNU parallel on generated inputs (when it is installed; else the
# comparisons are TAP SKIPs), plus what needs no comparison: order with -k,
# a job that does not read its stdin, retries, bad values.
. "$(dirname "$0")/lib.sh"
. "$TESTDIR/gnu-compare.sh"

# bad NAME ARGS...: exit 255 with a forkpool: message, no job run.
bad() {
    name=$1
    shift
    run_in "$T/s3" "$@"
    is "$RC" 255 "$name: exit status 255"
    if grep -q '^forkpool: ' "$ERR"; then pass "$name: a message"; else
        fail "$name: a message"
        diag_file stderr "$ERR"
    fi
}

seq 100000 >"$T/s100k"
seq 3 >"$T/s3"
seq 3000 >"$T/s3k"
# Inputs of cases that give GNU parallel, the reference, hundreds of jobs
# are kept small: on a VM where a fork costs ~1 ms its perl took over 60 s
# for 500 jobs under make check's load, and timed out.
seq 600 >"$T/s600"
: >"$T/empty"
printf 'h1\nh2\n' >"$T/hs"
seq 100000 >>"$T/hs"
# Five records of 5001 bytes: each longer than a 1k block.
awk 'BEGIN { for (i = 0; i < 5; i++) { s = ""; for (j = 0; j < 5000; j++) s = s "x"; print i s } }' \
    >"$T/long"
# NUL-terminated records.
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "rec%d\0", i }' >"$T/nul"

# wcfail: counts its stdin's lines, then fails with 3.
mkscript wcfail <<'EOF'
wc -l
exit 3
EOF
# seqof N: reads its stdin whole, prints N and its byte count.
mkscript seqof <<'EOF'
n=$(wc -c)
echo "$1 $n"
EOF
# pipecounter DIR: saves its stdin as DIR/in-RUN; fails on its first run.
mkscript pipecounter <<'EOF'
n=$(cat "$1/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n >"$1/count"
cat >"$1/in-$n"
[ $n -ge 2 ]
EOF

# ---- --pipe against GNU parallel
compare "--pipe --block 10k wc -l" "$T/s100k" -- -k --pipe --block 10k wc -l
compare "--spreadstdin, default block" "$T/s100k" -- -k --spreadstdin wc -c
compare "--pipe -N 7 --block 1k" "$T/s600" -- -k --pipe --block 1k -N 7 wc -l
compare "--pipe -N 1000 --recstart 5" "$T/s100k" -- -k --pipe --block 10k -N 1000 --recstart 5 wc -c
compare "--pipe -L 3 --block 100" "$T/s600" -- -k --pipe --block 100 -L 3 wc -l
compare "--pipe -L 2 -N 3" "$T/s600" -- -k --pipe --block 1K -L 2 -N 3 wc -l
compare "--pipe --recstart" "$T/s100k" -- -k --pipe --block 10k --recstart 1 wc -c
compare "--pipe --recend" "$T/s100k" -- -k --pipe --block 10k --recend 0 wc -c
compare "--pipe --recstart --recend" "$T/s100k" -- -k --pipe --block 10k --recstart 1 --recend 0 wc -c
compare "--pipe --recend '' (blocks of exactly --block bytes)" "$T/s3k" -- -k --pipe --block 1000 --recend '' wc -c
compare "--pipe -N 3 --recend '' (3 bytes a job)" "$T/s3" -- -k --pipe -N 3 --recend '' wc -c
compare "--pipe --recend '\\0'" "$T/nul" -- -k --pipe --block 1k --recend '\0' wc -c
compare "--pipe --header 2" "$T/hs" -- -k --pipe --block 20k --header 2 wc -l
compare "--pipe --rrs" "$T/s100k" -- -k --pipe --block 10k --rrs wc -c
compare "--pipe --rrs --recstart --recend" "$T/s100k" -- -k --pipe --block 10k --rrs --recend 9 --recstart 1 wc -c
compare "--pipe: records longer than the block" "$T/long" -- -k --pipe --block 1k wc -c
compare "--pipe: empty input, no job" "$T/empty" -- --pipe wc -l
compare "--pipe: jobs that fail" "$T/s100k" -- -k --pipe --block 100k "$B/wcfail"
compare "--pipe {#}" "$T/s100k" -- -k --pipe --block 100k "$B/seqof" '{#}'
compare "--pipe -j1 --block 1.5k" "$T/s3k" -- -k -j1 --pipe --block 1.5k wc -l
compare "--pipe --dry-run" "$T/s3" -- -k --pipe --dry-run wc

# A slow writer: blocks are still cut where GNU parallel cuts them.
if [ "$HAVE" = 1 ]; then
    { seq 1 3000; sleep 0.2; seq 3001 6000; } | HOME=$PHOME parallel --will-cite -k --pipe \
        --block 5k wc -l >"$T/p.out" 2>/dev/null
    { seq 1 3000; sleep 0.2; seq 3001 6000; } | fp -k --pipe --block 5k wc -l >"$OUT" 2>"$ERR"
    same "$OUT" "$T/p.out" "--pipe from a pipe written in two bursts: blocks as GNU parallel's"
else
    skip "--pipe from a pipe written in two bursts" "parallel not installed"
fi

# --joblog: Seq, Send (the block's bytes), Exitval, Signal as GNU parallel's.
if [ "$HAVE" = 1 ]; then
    HOME=$PHOME parallel --will-cite --joblog "$T/p.jl" --pipe --block 100k wc -l \
        <"$T/s100k" >/dev/null 2>&1
    run_in "$T/s100k" --joblog "$T/f.jl" --pipe --block 100k wc -l
    for f in p f; do tail -n +2 "$T/$f.jl" | cut -f 1,5,7,8 | sort -n >"$T/$f.cols"; done
    same "$T/f.cols" "$T/p.cols" "--pipe --joblog: Send column as GNU parallel's"
else
    skip "--pipe --joblog: Send column as GNU parallel's" "parallel not installed"
fi

# ---- --pipepart against GNU parallel
compare "--pipepart, default block" "$T/empty" -- -k --pipepart -a "$T/hs" wc -l
compare "--pipepart --block 10k" "$T/empty" -- -k --pipepart -a "$T/hs" --block 10k wc -l
compare "--pipepart --block -3" "$T/empty" -- -k --pipepart -a "$T/hs" --block -3 wc -c
compare "--pipepart --recstart" "$T/empty" -- -k --pipepart -a "$T/hs" --block 10k --recstart 1 wc -c
compare "--pipepart --recstart --recend" "$T/empty" -- -k --pipe-part -a "$T/hs" --block 7k \
    --recstart 1 --recend 0 wc -c
compare "--pipepart --header 2" "$T/empty" -- -k --pipepart -a "$T/hs" --block 20k --header 2 wc -l
compare "--pipepart: two files" "$T/empty" -- -k --pipepart -a "$T/hs" -a "$T/s100k" --block 100k wc -l
compare "--pipepart: empty file, no job" "$T/empty" -- --pipepart -a "$T/empty" wc -l
compare "--pipepart: jobs that fail" "$T/empty" -- -k --pipepart -a "$T/s100k" --block 100k "$B/wcfail"

# ---- without comparison
seq 300000 >"$T/s300k"
run_in "$T/s300k" -k --pipe --block 10k cat
same "$OUT" "$T/s300k" "--pipe -k cat: the input back, byte for byte"
run -k --pipepart -a "$T/s300k" --block 10k cat
same "$OUT" "$T/s300k" "--pipepart -k cat: the file back, byte for byte"
run_in "$T/s300k" --pipe --block 10k wc -l
is "$(awk '{ n += $1 } END { print n }' "$OUT")" 300000 "--pipe without -k: every line counted once"

# A job that never reads its stdin: the blocks are dropped, nothing hangs.
run_in "$T/s300k" --pipe --block 100k true
is "$RC" 0 "--pipe: jobs that do not read stdin end, exit 0"
run --pipepart -a "$T/s300k" --block 100k true
is "$RC" 0 "--pipepart: jobs that do not read stdin end, exit 0"
run_in "$T/s100k" -k --pipe --block 1M head -n 1
same_str "$OUT" "--pipe: a job that reads a little" '1\n'
is "$RC" 0 "--pipe: a job that reads a little: exit 0"

# --retries: the failed job gets the same block again.
mkdir "$T/r"
run_in "$T/s3" --pipe --retries 2 "$B/pipecounter" "$T/r"
is "$RC" 0 "--pipe --retries 2: the second run succeeds"
same "$T/r/in-2" "$T/r/in-1" "--pipe --retries: the retry reads the same block"
same "$T/r/in-1" "$T/s3" "--pipe --retries: that block is the input"

# Bad values.
bad "--block 0" --pipe --block 0 cat
bad "--block 1x" --pipe --block 1x cat
bad "--block -1 with --pipe" --pipe --block -1 cat
bad "-N 0" --pipe -N 0 cat
bad "-L x" --pipe -L x cat
bad "--header x" --pipe --header x cat
bad "--recstart without --pipe" --recstart x echo
bad "-L without --pipe" -L 2 echo
bad "-N0 with --pipe" --pipe -N0 cat
bad "--regexp with a lazy quantifier" --pipe --regexp --recstart 'a.*?b' cat
bad "--regexp with a back-reference" --pipe --regexp --recstart '(a)\1' cat
bad "--regexp with (?=...)" --pipe --regexp --recstart '(?=a)' cat
bad "--regexp that does not compile" --pipe --regexp --recstart 'a(b' cat
bad "--pipe with ::: inputs" --pipe cat ::: a
bad "--pipe, shell code without --shell" -kN1 --recend , --pipe echo 'JOB{#};cat'
grep -q "add --shell" "$ERR"; ok "... the message says to add --shell" test $? = 0
run_in "$T/s3" -q -kN1 --recend 2 --pipe echo 'JOB{#};cat'
is "$(head -n 1 "$OUT")" "JOB1;cat" "-q: shell code passed as it is (to echo)"
# With --shell it runs as GNU parallel runs it (which always uses a shell).
if [ "$HAVE" = 1 ]; then
    HOME=$PHOME parallel --will-cite -kN1 --recend 2 --pipe echo 'JOB{#};cat;echo' END \
        <"$T/s3" >"$T/p.out" 2>/dev/null
    run_in "$T/s3" -kN1 --recend 2 --pipe --shell echo 'JOB{#};cat;echo' END
    same "$OUT" "$T/p.out" "--pipe --shell with shell code: stdout as GNU parallel's"
else
    skip "--pipe --shell with shell code: stdout as GNU parallel's" "parallel not installed"
fi
bad "--pipepart without -a" --pipepart cat
# --resume, --resume-failed: the blocks the joblog lists as done are read
# and skipped, the others run
seq 10 >"$T/s10"
run_in "$T/s10" -k -N2 --pipe --joblog "$T/res.jl" --shell 'exit $(($(head -n1) % 2))'
is "$RC" 5 "--resume set-up: 5 blocks, odd first lines fail"
run_in "$T/s10" -k -N2 --pipe --joblog "$T/res.jl" --resume-failed wc -l
is "$RC" 0 "--resume-failed with --pipe: exit 0"
same_str "$OUT" "--resume-failed with --pipe: only the 5 failed blocks ran again" '2\n2\n2\n2\n2\n'
run_in "$T/s10" -k -N2 --pipe --joblog "$T/res.jl" --resume wc -l
is "$RC" 0 "--resume with --pipe: every block done: exit 0"
empty "$OUT" "--resume with --pipe: every block skipped"

bad "--pipepart on a device" --pipepart -a /dev/null cat
bad "--pipepart missing file" --pipepart -a "$T/nonexistent" cat
bad "--pipepart with -N" --pipepart -a "$T/s3" -N 2 cat

# --regexp: --recend/--recstart as regular expressions (Perl's \n \d and
# (?:), the same blocks as GNU parallel: --pipe's /m meaning, and
# --pipepart's /s one with its greedy cut
i=1
while [ $i -le 300 ]; do printf '>s%d\nACGT%d\nTT\n' $i $i; i=$((i + 1)); done >"$T/seqs.fa"
head -n 180 "$T/seqs.fa" >"$T/seqs60.fa" # 60 records, for the -N cases
compare "--regexp --recstart ^>" "$T/seqs.fa" -- -k --pipe --regexp --recstart '^>' --block 1k wc -l
compare "--regexp, a class and \\n" "$T/seqs.fa" -- -k --pipe --regexp --recstart '>s[0-9]*0\n' --block 500 wc -l
# --regexp -N, input not starting with a record: what comes before the first
# record is a block of its own (GNU parallel's "garbage")
compare "--regexp --recstart T -N3: the leading non-record first" "$T/seqs60.fa" -- -k --pipe \
    --regexp --recstart T -N3 wc -c
compare "--regexp --recend '[0-9]\\n' --recstart T -N3: the same" "$T/seqs60.fa" -- -k --pipe \
    --regexp --recend '[0-9]\n' --recstart T -N3 wc -c
# --rrs with --regexp: the matches removed, as GNU parallel's remove_rec_sep
printf '#!/bin/sh\ncat\necho "|"\n' >"$B/bar"
chmod +x "$B/bar"
compare "--regexp --rrs --recstart '>s[0-9]*5'" "$T/seqs.fa" -- -k --pipe --regexp \
    --recstart '>s[0-9]*5' --block 1k --rrs "$B/bar"
compare "--regexp --rrs --recend 'T\\n' --recstart '>' -N2" "$T/seqs60.fa" -- -k --pipe \
    --regexp --recend 'T\n' --recstart '>' -N2 --rrs "$B/bar"
compare "--regexp --rrs --recend '[0-9]\\n', no recstart" "$T/seqs60.fa" -- -k --pipe --regexp \
    --recend '[0-9]\n' -N5 --rrs "$B/bar"
compare "--regexp -N7" "$T/seqs60.fa" -- -k --pipe -N7 --regexp --recstart '>' wc -l
compare "--regexp --recend and --recstart" "$T/seqs.fa" -- -k --pipe --regexp --recend 'T\n' \
    --recstart '(?:>)' --block 300 wc -c
compare "--regexp --recend \\d" "$T/seqs.fa" -- -k --pipe --regexp --recend '\d\n' --block 200 wc -l
compare "--pipepart --regexp: ^ only at the part's start" /dev/null -- -k --pipepart -a "$T/seqs.fa" \
    --regexp --recstart '^>s\d+5\n' --block 200 wc -l
compare "--pipepart --regexp: the last match in what was read" /dev/null -- -k --pipepart \
    -a "$T/seqs.fa" --regexp --recstart '>s' --block 200 wc -l
compare "--pipepart --regexp: . matches a newline" /dev/null -- -k --pipepart -a "$T/seqs.fa" \
    --regexp --recend 'T\n' --recstart '>.*0' --block 300 wc -l
run_in "$T/seqs.fa" -k --pipe -N100 --regexp --recstart '>' wc -l
same_str "$OUT" "--regexp -N100: 100 records of 3 lines per job" '300\n300\n300\n'

# --block-timeout: a block that does not fill in time goes with the whole
# records read so far. The feeder sends "a b" and a partial "c", then waits
# (up to a minute) until a job has run before sending the rest: without
# the timeout the first job would only start at the end of input.
printf '#!/bin/sh\nprintf "a\\nb\\nc"\ni=0\nwhile [ ! -e "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\nprintf "\\nd\\n"\n' >"$B/feed"
chmod +x "$B/feed"
mkfifo "$T/btin"
"$B/feed" "$T/btran" >"$T/btin" &
feeder=$!
run_in "$T/btin" -k --pipe --block-timeout 0.2 --shell "echo \"{#}: \$(tr '\\n' ' ')\"; touch $T/btran"
wait "$feeder"
is "$RC" 0 "--block-timeout 0.2: exit 0"
same_str "$OUT" "... the first job got the whole records read in time, the next the rest" \
    '1: a b \n2: c d \n'
printf '#!/bin/sh\nsleep 0.5\nprintf "x\\n"\n' >"$B/late"
chmod +x "$B/late"
"$B/late" | RUN_STDIN=/dev/stdin run --pipe --bt 0.05 --shell 'echo "[$(cat)]"'
same_str "$OUT" "--bt: no job for the timeouts when nothing came" '[x]\n'
bad "--block-timeout 0" --pipe --block-timeout 0 cat
bad "--block-timeout x" --pipe --bt x cat
bad "--block-timeout without --pipe" --block-timeout 1 echo
bad "--block-timeout with --pipepart" --pipepart -a "$T/s3" --block-timeout 1 cat

done_testing
