#!/bin/sh
# Several inputs per job (issue #12 item 1): -N, -n, -N0, -m, -X, --xargs,
# -s, --show-limits; held against GNU parallel where it is installed, and
# checked literally where the output does not depend on it.
. "$(dirname "$0")/lib.sh"
. "$TESTDIR/gnu-compare.sh"

# -N: exactly N inputs per job, {1}..{N}
run -k -N3 echo ::: A B C D E F G H
same_str "$OUT" "-N3: three inputs per job, the last one short" 'A B C\nD E F\nG H\n'
compare "-N3" -- -k -N3 echo ::: A B C D E F G H
compare "-N3 positional" -- -k -N3 echo 1={1} 2={2} 3={3} ::: A B C D E F G H
compare "-N2, two groups: inputs are combinations" -- -k -N2 echo '{1}-{2}-{3}-{4}' ::: a b c ::: 1 2
compare "--max-replace-args 2" -- -k --max-replace-args 2 echo ::: a b c d e
compare "-n 2" -- -k -n 2 echo ::: a b c d e
compare "--max-args=4" -- -k --max-args=4 echo ::: a b c d e
compare "-kN2 clustered" -- -kN2 echo ::: a b c d
compare "-N2: a word with {} is repeated per value" -- -k -N2 echo 'x{}' '{1}-{}' ::: a b c d
compare "-N2, two groups: a word with {} per value" -- -k -N2 echo 'x{}' ::: a b ::: 1
compare "-n2: a word with {} holds all values" -- -k -n2 echo 'x{}' ::: a b c d
compare "-X: in a repeated word {1} is still the job's first input" -- -k -j1 -X echo '{1}-{}' 'y{= $_=uc =}' ::: a b c
printf '1\n2\n3\n4\n5\n' >"$T/in5"
compare "-N2 from stdin" "$T/in5" -- -k -N2 echo x
run -k -N0 echo foo ::: 1 2 3
same_str "$OUT" "-N0: once per input, without it" 'foo\nfoo\nfoo\n'
compare "-N0" -- -k -N0 echo foo ::: 1 2 3
compare "-N0 {#}" -- -k -N0 echo '{#}' :::: "$T/in5"
# no value: a word that is only {} is dropped, 'a{}b' is 'ab', and a
# {= =} runs once with $_ empty
run -k -N0 echo 'a{}b' '{}' '{= $_ = "e" . $job->seq() =}' 'p{= $_ = "e" =}q{}r' z ::: 1 2
same_str "$OUT" "-N0: {} words dropped or empty, {= =} evaluated" 'ab e1 peqr z\nab e2 peqr z\n'
compare "-N0 with {}, {.} and {= =}" -- -k -N0 echo 'a{}b' '{}' x '{.}' '{= $_ = "e" =}' 'p{= $_ = "e" =}q{}r' \
    z ::: 1 2
compare "-N0 -X" -- -k -N0 -X echo 'a{}b' '{}' z ::: 1 2
run -N0 '{}' ::: 1
is "$RC" 255 "-N0 with the command only {}: exit 255"
ok "... saying the program's name is empty" grep -q "job 1: the program's name is empty" "$ERR"

# -m, -X, --xargs: as many as fit, -m and -X spread over the job slots
compare "-j4 -m" -- -k --jobs 4 -m echo ::: 1 2 3 4 5 6 7 8 9 10
compare "-j4 -m pre-{}-post" -- -k --jobs 4 -m echo pre-{}-post ::: A B C D E F G
compare "-j4 -X pre-{}-post" -- -k --jobs 4 -X echo pre-{}-post ::: A B C D E F G
compare "-j1 -X" -- -k -j1 -X echo 'x{}y' ::: a b c
compare "-j2 -m {} as a word" -- -k -j2 -m echo '[' {} ']' ::: a b c d
seq 30000 >"$T/num30000"
seq 30 >"$T/in30"
mkscript nargs <<'EOS'
echo $#
EOS
compare "-j4 -m: 30000 inputs, lines" "$T/num30000" -- -k --jobs 4 -m "$B/nargs"
compare "--xargs: 30000 inputs" "$T/num30000" -- -k --xargs "$B/nargs"
compare "--xargs -s 10000" "$T/num30000" -- -k --xargs -s 10000 "$B/nargs"
compare "-s 1k" "$T/num30000" -- -k --xargs -s 1k "$B/nargs"
compare "-s 2K" "$T/num30000" -- -k --xargs -s 2K "$B/nargs"
compare "--max-chars=500" "$T/num30000" -- -k --xargs --max-chars=500 "$B/nargs"
run_in "$T/num30000" -k --xargs echo
is "$(tr ' ' '\n' <"$OUT" | grep -c .)" 30000 "--xargs: every input once"
is "$(wc -l <"$OUT" | tr -d ' ')" 3 "--xargs: three command lines for 30000 numbers"
run_in "$T/num30000" -k -j3 -m echo
is "$(tr ' ' '\n' <"$OUT" | sort -n | uniq | wc -l | tr -d ' ')" 30000 "-m -j3: every input once"
compare "-X -s 20" -- -k -j1 -X -s 20 echo x{}y ::: 1 2 3 4 5 6 7 8 9 10 11 12
compare "-m -s 30, {} twice" "$T/in30" -- -k -j1 -m -s 30 echo 'a{}b' {}
compare "-X -s 32" "$T/in30" -- -k -j1 -X -s 32 echo 'a{}b'
compare "-X, two groups: the word per value" -- -k -j1 -X echo 'x{}y' ::: a b ::: 1 2
compare "-X -s 20, two groups" -- -k -j1 -X -s 20 echo 'x{}y' ::: a b ::: 1 2 3
compare "-X --colsep" -- -k -j1 -X --colsep , echo 'x{}y' ::: a,b c,d
compare "--xargs -s 21" "$T/in30" -- -k --xargs -s 21 "$B/nargs"
run -k --xargs -s 12 echo ::: aaaaaaaaaaaaaaaa b
is "$RC" 255 "an input longer than -s: exit 255"
if grep -q 'forkpool: command line too long' "$ERR"; then pass "an input longer than -s: message"; else
    fail "an input longer than -s: message"; diag_file stderr "$ERR"; fi

# --show-limits
run --show-limits echo ::: x
is "$RC" 0 "--show-limits: exit 0"
if grep -q '^Maximal size of command: [0-9]' "$OUT" && grep -q '^Maximal usable size of command: [0-9]' "$OUT" &&
    grep -q '^x$' "$OUT"; then pass "--show-limits: the limits, then the jobs run"; else
    fail "--show-limits: the limits, then the jobs run"; diag_file stdout "$OUT"; fi
real=$(sed -n 's/^Maximal size of command: //p' "$OUT")
usable=$(sed -n 's/^Maximal usable size of command: //p' "$OUT")
is "$usable" "$(((real - 3000) / 2))" "--show-limits: usable is (max - 3000) / 2, as GNU parallel's"
run --show-limits -s 100 echo ::: x
is "$RC" 0 "--show-limits -s 100: exit 0"

# bad values
usage_error "-N without a number" "-N" -N x echo ::: a
usage_error "-N negative" "-N" -N -1 echo ::: a
usage_error "-n too large" "--max-args" --max-args 99999999999999999999 echo ::: a
usage_error "-N needs a value" "-N" -N
usage_error "-s 0" "-s" -m -s 0 echo ::: a
usage_error "-s not a number" "--max-chars" --max-chars=12x echo ::: a
usage_error "-s unit only" "-s" -s k echo ::: a
usage_error "--xargs takes no value" "--xargs" --xargs=3 echo ::: a
usage_error "--show-limits takes no value" "--show-limits" --show-limits=1 echo ::: a

done_testing
