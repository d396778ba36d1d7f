#!/bin/sh
# --version, --help, and the basic ways to give inputs: ::: groups, :::: FILE,
# :::: - (stdin), plain stdin; inputs appended when there is no replacement
# string; job stdout/stderr passed through; job stdin is not the tool's.
. "$(dirname "$0")/lib.sh"

# --version / --help
run --version
is "$RC" 0 "--version exits 0"
ok "--version prints the version 0.1.0" grep -q '0\.1\.0' "$OUT"
empty "$ERR" "--version: nothing on stderr"

run --help
is "$RC" 0 "--help exits 0"
for o in -j --keep-order --timeout --retries --halt --joblog --bar --dry-run --tag \
    --shell --null --version --help ':::' '::::'; do
    ok "--help mentions $o" grep -q -e "$o" "$OUT"
done
empty "$ERR" "--help: nothing on stderr"

# one ::: group, input appended as the last argument
run -k "$B/args" x ::: a b c
is "$RC" 0 "::: a b c exits 0"
same_str "$OUT" "::: inputs appended as last argument" '[x]\n[a]\n[x]\n[b]\n[x]\n[c]\n'
empty "$ERR" "no stderr"

run -k echo ::: hello world
same_str "$OUT" "PATH lookup of the command (echo)" 'hello\nworld\n'

# long option spelling
run --keep-order "$B/args" ::: 1 2
same_str "$OUT" "--keep-order" '[1]\n[2]\n'

# :::: FILE
printf 'one\ntwo words\nthree\n' >"$T/in"
run -k "$B/args" :::: "$T/in"
is "$RC" 0 ":::: FILE exits 0"
same_str "$OUT" ":::: FILE: one input per line" '[one]\n[two words]\n[three]\n'

# last line without newline
printf 'x\ny' >"$T/in2"
run -k "$B/args" :::: "$T/in2"
same_str "$OUT" ":::: FILE: last line without newline is an input" '[x]\n[y]\n'

# :::: - reads stdin
printf 'p\nq r\n' >"$T/in3"
run_in "$T/in3" -k "$B/args" :::: -
is "$RC" 0 ":::: - exits 0"
same_str "$OUT" ":::: - reads stdin" '[p]\n[q r]\n'

# no ::: at all: stdin, one input per line
run_in "$T/in3" -k "$B/args" pre
is "$RC" 0 "stdin inputs: exits 0"
same_str "$OUT" "no :::, inputs from stdin" '[pre]\n[p]\n[pre]\n[q r]\n'

# empty stdin: no jobs, success
: >"$T/empty"
run_in "$T/empty" -k "$B/args"
is "$RC" 0 "no inputs at all: exits 0"
empty "$OUT" "no inputs: no output"

# jobs do not read the tool's stdin (the inputs): cat in a job sees nothing
printf 'a\nb\nc\n' >"$T/in4"
run_in "$T/in4" -k -j1 sh -c 'cat; echo "job $1"' sh
same_str "$OUT" "jobs' stdin is not the tool's stdin (all inputs became jobs)" 'job a\njob b\njob c\n'

# stdout and stderr of jobs go to the tool's stdout and stderr
run -k sh -c 'echo "out $1"; echo "err $1" >&2' sh ::: 1 2
is "$RC" 0 "jobs writing both streams: exit 0"
same_str "$OUT" "job stdout on stdout only" 'out 1\nout 2\n'
same_str "$ERR" "job stderr on stderr only" 'err 1\nerr 2\n'

# output without a trailing newline is passed as is
run -k printf '%s' ::: a b
same_str "$OUT" "output without trailing newline kept byte for byte" 'ab'

# a failed job's output is printed too
run -k sh -c 'echo "out $1"; echo "err $1" >&2; exit 4' sh ::: F
is "$RC" 1 "failing job: exit 1"
same_str "$OUT" "failed job's stdout printed" 'out F\n'
ok "failed job's stderr printed" grep -qx 'err F' "$ERR"

# large outputs, several jobs, byte for byte
seq 1 100000 >"$T/seq"
cat "$T/seq" "$T/seq" "$T/seq" >"$T/seq3"
run -k -j3 seq 1 ::: 100000 100000 100000
is "$RC" 0 "3 jobs x 588 KiB output: exit 0"
same "$OUT" "$T/seq3" "3 jobs x 588 KiB output: byte for byte, in order"

# many jobs, -k keeps input order
seq 1 300 >"$T/many"
run_in "$T/many" -k -j8 echo
is "$RC" 0 "300 jobs from stdin: exit 0"
same "$OUT" "$T/many" "300 jobs with -k -j8: output in input order"

# without -k, the same lines (some order)
run_in "$T/many" -j8 echo
sort -n "$OUT" >"$T/sorted"
same "$T/sorted" "$T/many" "300 jobs without -k: every line once"

done_testing
