#!/bin/sh
# Replacement strings (issue #12 item 2): --plus and its strings, positional
# forms ({2..}, {-1+.}), -I and the long renames, --rpl, --parens, {= perl =}
# ({=N perl =}, across several words, Q(), skip(), @arg, total_jobs(), uq()),
# one perl for the whole run, the errors (no perl, a bad expression, a {=
# without =}, bad option values) and the warning for an unknown {word}.
# Compared with GNU parallel where it is installed (else those are SKIPs).
. "$(dirname "$0")/lib.sh"

. "$TESTDIR/gnu-compare.sh"
if command -v perl >/dev/null 2>&1; then PERL=1; else PERL=0; fi

# compare_perl NAME -- ARGS...: compare, or skip both when perl is missing.
compare_perl() {
    if [ "$PERL" = 0 ]; then
        skip "$1: stdout as GNU parallel" "no perl"
        skip "$1: exit status as GNU parallel" "no perl"
        return
    fi
    compare "$@"
}

P=dir.d/sub/file.ex1.ex2.ex3
# --plus: the path strings (done in C, no perl)
compare "--plus {..} {...} {/..} {/...}" -- --plus -k echo '{..}' '{...}' '{/..}' '{/...}' \
    ::: "$P" a.b .a.b a/b/ /
compare "--plus {+/} {+.} {+..} {+...}" -- --plus -k echo '{+/}' '{+.}' '{+..}' '{+...}' \
    ::: "$P" a.b/c a /file a/b/ .a.b
compare "--plus: the manual's identities" -- --plus -k echo '{+/}/{/}' '{.}.{+.}' \
    '{+/}/{/.}.{+.}' '{..}.{+..}' '{+/}/{/..}.{+..}' '{...}.{+...}' '{+/}/{/...}.{+...}' ::: "$P"
compare "--plus positional {2..} {-1+.} {1+/} {2 ...}" -- --plus -k echo '{2..}' '{-1+.}' \
    '{1+/}' '{2 ...}' ::: a/b.c.d ::: x.y.z.w
compare "--plus {##} {0#} {0%} -j1" -- --plus -j1 -k echo '{#}' of '{##}' '{0#}' '{0%}' \
    ::: 1 2 3 4 5 6 7 8 9 10 11
compare "--plus {slot} {host} {sshlogin} {hgrp} {agrp}" -- --plus -j1 -k echo '[{slot}]' \
    '[{host}]' '[{sshlogin}]' '[{hgrp}]' '[{agrp}]' ::: a
run --plus -k -j12 echo '{0%}' ::: 1 2 3
ok "--plus {0%} with -j12: two digits" grep -qx '0[1-9]' "$OUT"
# inputs on stdin: every input is read first, then the number is known
seq 11 >"$T/in11"
run_in "$T/in11" --plus -j1 -k echo '{#}' of '{##}' '{0#}'
for i in 1 2 3 4 5 6 7 8 9 10 11; do printf '%d of 11 %02d\n' $i $i; done >"$T/want11"
same "$OUT" "$T/want11" "--plus {##} {0#} with inputs on stdin: 11 jobs known before the first"
run_in /dev/null --plus echo '{##}'
is "$RC" 0 "--plus {##} with no input at all: exit 0"
empty "$OUT" "... nothing run"
run_in "$T/in11" --pipe --plus echo '{##}'
is "$RC" 255 "--plus {##} with --pipe: refused (exit 255)"
ok "... says why" grep -q '{##}.*--pipe does not know' "$ERR"

# --plus: bash-like strings (Perl expressions, as in GNU parallel)
V=abcAaAdef
compare_perl "--plus {:-x} {:N} {:N:M}" -- --plus -k echo '{:-myval}' '{:2}' '{:2:3}' \
    ::: "$V" '' 0
compare_perl "--plus {#pre} {##pre} {%suf} {%%suf}" -- --plus -k echo '{#bc}' '{#abc}' '{##a*A}' \
    '{%de}' '{%def}' '{%%A*f}' ::: "$V" z.z.z.foo
compare_perl "--plus {/a/b} {//a/b} {/#a/b} {/%a/b}" -- --plus -k echo '{/def/ghi}' '{//A/-}' \
    '{/#abc/X}' '{/%def/Y}' ::: "$V"
compare_perl "--plus {^a} {^^a} {,A} {,,A}" -- --plus -k echo '{^a}' '{^^a}' '{,A}' '{,,A}' \
    ::: "$V" AbcAaAdef
compare_perl "--plus positional {2%.gz} {-1#x}" -- --plus -k echo '{2%.gz}' '{-1#x}' \
    ::: a ::: xb.gz
compare_perl "--plus {choose_k}" -- --plus -k echo '{choose_k}' ::: A B C ::: A B C
compare_perl "--plus {uniq}" -- --plus -k echo '{uniq}' ::: A B ::: A B

# -I and the long renames
for o in -I --extensionreplace --er --basenamereplace --bnr --dirnamereplace --dnr \
    --basenameextensionreplace --bner --seqreplace; do
    compare "$o ,," -- $o ,, -k echo ,, x,,y ::: A/B.C D
done
compare "--slotreplace ,, with -j1" -- --slotreplace ,, -j1 -k echo ,, ::: A B
compare "-I {} renamed: {} is text, positional {1} too" -- -I XX -k echo XX '{}' ::: a
compare "-I '{x}' with a positional {1x}" -- -I '{x}' -k echo '{x}' '{1x}' '{-1x}' ::: a ::: b
run -I '' echo ::: a
is "$RC" 255 "-I '': exit 255"
ok "-I '': a message" grep -q "bad value '' for -I" "$ERR"
for o in --er --bnr --dnr --bner --seqreplace --slotreplace; do
    run $o '' echo ::: a
    is "$RC" 255 "$o '': exit 255"
done

# --rpl
compare_perl "--rpl '.. perl'" -- --rpl '.. s:\.[^.]+$::;s:\.[^.]+$::;' -k echo '..' ::: foo.tar.gz
compare_perl "--rpl '{..} perl', positional {2..}" -- \
    --rpl '{..} s:\.[^.]+$::;s:\.[^.]+$::;' -k echo '{..}' '{2..} {1}' ::: bar ::: foo.tar.gz
compare_perl "--rpl with a group: {%(.+?)}" -- --rpl '{%(.+?)} s/$$1$//;' -k echo '{%.tar.gz}.zip' \
    ::: foo.tar.gz
compare_perl "--rpl with two groups: {/(.+?)/(.*?)}" -- --rpl '{/(.+?)/(.*?)} s/$$1/$$2/;' \
    -k echo '{/tar.gz/zip}' '{/a/}' ::: foo.tar.gz
compare_perl "--rpl overrides {} and adds {x}" -- --rpl '{} s/a/A/' --rpl '{x} $_="x$_"' -k \
    echo '{}' '{x}' '{1x}' ::: abc
compare_perl "--rpl: longer tags first" -- --rpl '% s/a/b/' --rpl '%% s/b/c/' -k echo '%' '%%' \
    ::: ab
compare_perl "--rpl with \\d in its group" -- --rpl '{:(\d+)} substr($_,0,$$1) = ""' -k \
    echo '{:2}' ::: abcdef
run --rpl '{x}' echo ::: a
is "$RC" 255 "--rpl without an expression: exit 255"
ok "--rpl without an expression: a message" grep -q "rpl needs 'TAG perl-expression'" "$ERR"

# --parens
compare_perl "--parens ,,,," -- --parens ,,,, -k echo ',, s:\.[^.]+$::;s:\.[^.]+$::; ,,' ::: foo.tar.gz
compare_perl "--parens ,,,, with {= as text" -- --parens ,,,, -k echo '{= x =}' ',,2 $_.="!" ,,' \
    ::: a ::: b
run --parens '{' echo ::: a
is "$RC" 255 "--parens with one character: exit 255"

# {= perl =}
compare_perl "{= perl =}" -- -k echo '{= s:\.[^.]+$::;s:\.[^.]+$::; =}' ::: foo.tar.gz
compare_perl "{=N perl =} positional" -- -k echo '{=2 s:\.[^.]+$::;s:\.[^.]+$::; =} {1}' \
    ::: bar ::: foo.tar.gz
compare_perl "{=-1 perl =}" -- -k echo '{=-1 $_.="!" =}' '{=1 $_.="?" =}' ::: a ::: b
compare_perl "{= perl =} across words" -- -k echo Job '{#}' of '{=' '$_=total_jobs()' '=}' \
    ::: 1 2 3
compare_perl "{= Q() =}" -- -k echo '{}' shell quoted is '{=' '$_=Q($_)' '=}' ::: '*/!#$' "it's"
compare_perl "{= skip() =}: not run, counted as failed" -- -k echo '{=' 'if($_==3) { skip() }' \
    '=}' ::: 1 2 3 4 5
compare_perl "{= @arg =} with skip()" -- -k echo '{=' 'if($arg[1]==$arg[2]) { skip() }' '=}' \
    ::: 1 2 3 ::: 1 2 3
compare_perl "{= \$job->seq() \$job->slot() seq() =}" -- -j1 -k echo '{= $_=$job->seq() =}' \
    '{= $_=$job->slot() =}' '{= $_=seq()*10 =}' ::: a b
compare_perl "{= =} empty, several in a word, {} with several groups" -- -k echo '{==}' \
    'x{= $_.=1 =}y{= $_.=2 =}z' '{= $_=uc =}' ::: a ::: b
compare_perl "{= =}: once per value and job (GNU parallel's cache)" -- -j1 -k echo '{= $_=++$n =}' \
    '{= $_=++$n =}' '{=1 $_=++$n =}' 'x{= $_=++$n =}' ::: a b
if [ "$PERL" = 1 ]; then
    run -j1 -k echo '{= $/ = undef; $\ = "X"; $_.="!" =}' ::: a b c
    same_str "$OUT" "{= =} that changes \$/ and \$\\: the next jobs still run" 'a!\nb!\nc!\n'
else
    skip "{= =} that changes \$/: the next jobs still run" "no perl"
fi
compare_perl "{= =}: state kept between jobs (one perl)" -- -j1 -k echo '{= $_=++$n =}' ::: a b c
compare_perl "{= =} with bytes" -- -k echo '{= $_=length =}' '{= $_=$_ x 2 =}' ::: "$(printf '\377\001')"
compare_perl "{= =} -k skip in the middle keeps the order" -- -j3 -k echo '{= skip() if $_ % 2 =}' \
    ::: 1 2 3 4 5 6
if [ "$PERL" = 1 ]; then
    # a group past the last is an empty argument (as {3} is: no shell drops it)
    run -k "$B/args" '{=3 $_="never" =}' ::: a ::: b
    same_str "$OUT" "{=3 perl =} past the last group: an empty argument" '[]\n'
    # a value with a newline (GNU parallel splits ::: values at newlines)
    run -k "$B/args" '{= $_=length =}' '{= s/\n/|/ =}' ::: "$(printf 'a\nb')"
    same_str "$OUT" "{= =}: a value with a newline, whole" '[3]\n[a|b]\n'
    # one perl for the whole run: $$ is the same in every job
    run -j2 echo '{= $_=$$ =}' ::: 1 2 3 4 5 6 7 8
    is "$(sort -u "$OUT" | wc -l | tr -d ' ')" 1 "{= =}: one perl for the whole run"
    # --shell: values quoted, uq() not
    run --shell -k echo '{= $_="a  b" =}' '{= $_="c  d"; uq() =}' ::: x
    same_str "$OUT" "--shell: {= =} quoted, uq() not" 'a  b c d\n'
    run --dry-run echo '{= $_.="!" =}' ::: 'a b'
    same_str "$OUT" "--dry-run shows the evaluated command" "echo 'a b!'\\n"
    printf 'keep\n' >"$T/work/f1.txt"
    printf 'keep\n' >"$T/work/f2.txt"
    run mv '{}' '{= s:\.txt$:.bak: =}' ::: "$T/work/f1.txt" "$T/work/f2.txt"
    ok "the issue's mv {} {= s:\\.txt\$:.bak: =}: each file renamed on its own" \
        [ -f "$T/work/f1.bak" ] && [ -f "$T/work/f2.bak" ] && [ ! -e "$T/work/f1.txt" ]
    run --joblog "$T/jl" -k echo '{= skip() if $_ eq "b" =}' ::: a b
    ok "skip(): the joblog says Exitval -2 and the command" grep -q '	-2	0	echo b$' "$T/jl"
    # errors
    run echo '{= s/(/ =}' ::: a
    is "$RC" 255 "a Perl expression that does not compile: exit 255"
    ok "a Perl expression that does not compile: perl's message" \
        grep -q "cannot use the Perl expression 's/(/ '" "$ERR"
    is "$(cat "$OUT")" "" "a Perl expression that does not compile: nothing ran"
    run -j1 echo '{= die "boom\n" if $_ eq "b" =}' ::: a b c
    is "$RC" 255 "a Perl expression that dies: exit 255"
    ok "a Perl expression that dies: its message" grep -q 'died: boom' "$ERR"
    run_in /dev/null echo '{= $_ = total_jobs() =}'
    is "$RC" 0 "total_jobs() with stdin and no input: nothing to do"
    seq 3 >"$T/three"
    run_in "$T/three" -k echo '{= $_ = total_jobs() =}'
    is "$RC" 0 "total_jobs() with inputs on stdin: exit 0"
    same_str "$OUT" "... every input read first to count them, as GNU parallel does" '3\n3\n3\n'
    run_in "$T/three" -k --total-jobs 5 echo '{= $_ = total_jobs() =}'
    same_str "$OUT" "total_jobs() with --total-jobs 5: 5, as GNU parallel says" '5\n5\n5\n'
    run_in "$T/three" --pipe --shell 'cat >/dev/null; echo {= $_ = total_jobs() =}'
    is "$RC" 255 "total_jobs() with --pipe: exit 255"
    ok "total_jobs() with --pipe: says why" grep -q 'in advance' "$ERR"
else
    for n in $(seq 18); do skip "perl test $n" "no perl"; done
fi
run echo '{= s/a/b/' ::: a
is "$RC" 255 "{= without =}: exit 255"
ok "{= without =}: a message" grep -q "'{=' without its '=}'" "$ERR"
# no perl on PATH (the tool run by its full path; valgrind needs PATH)
if [ -z "$FORKPOOL_WRAP" ]; then
    mkdir "$T/noperl"
    PATH=$T/noperl "$FORKPOOL_BIN" echo '{= s/a/b/ =}' ::: a >"$OUT" 2>"$ERR"
    is "$?" 255 "no perl: exit 255"
    is "$(cat "$ERR")" "forkpool: {= =} needs perl (none found on PATH)" "no perl: the message"
    PATH=$T/noperl "$FORKPOOL_BIN" --plus /bin/echo '{..}' ::: a.b.c >"$OUT" 2>"$ERR"
    same_str "$OUT" "no perl: --plus's path strings work without it" 'a\n'
else
    for n in 1 2 3; do skip "no perl $n" "PATH without perl: not under FORKPOOL_WRAP"; done
fi

# an unknown {word}: left as text, as GNU parallel, with one warning
compare "unknown {foo}: left as text" -- -k echo '{foo}' '{bar}' ::: a
ok "unknown {foo}: a warning on stderr" grep -q 'warning: {foo} is not a replacement string' "$ERR"
is "$(grep -c warning "$ERR")" 1 "unknown {foo}: only one warning"
run -k echo '${HOME}' '{ a }' '{}' ::: a
empty "$ERR" "\${VAR}, braces with spaces: no warning"
compare "without --plus, {..} stays text" -- -k echo '{..}' ::: a.b.c

done_testing
