#!/bin/sh
# Replacement strings {} {.} {/} {//} {/.} {#} {%} {1} {2}; several :::
# groups (cartesian product, first group slowest); mixing ::: and ::::.
. "$(dirname "$0")/lib.sh"

run -k "$B/args" '{}' '{.}' '{/}' '{//}' '{/.}' ::: /x/y/z.tar.gz rel.c noext dir.d/file sub/a.b.c
is "$RC" 0 "path replacements: exit 0"
same_str "$OUT" "{} {.} {/} {//} {/.} (GNU parallel's values)" '%s\n' \
    '[/x/y/z.tar.gz]' '[/x/y/z.tar]' '[z.tar.gz]' '[/x/y]' '[z.tar]' \
    '[rel.c]' '[rel]' '[rel.c]' '[.]' '[rel]' \
    '[noext]' '[noext]' '[noext]' '[.]' '[noext]' \
    '[dir.d/file]' '[dir.d/file]' '[file]' '[dir.d]' '[file]' \
    '[sub/a.b.c]' '[sub/a.b]' '[a.b.c]' '[sub]' '[a.b]'

# replacement inside words, several in one word, repeated
run -k "$B/args" 'a{}b{.}c' '{}{}' '--opt={/}' ::: d/f.x
same_str "$OUT" "replacements inside words, several per word" '[ad/f.xbd/fc]\n[d/f.xd/f.x]\n[--opt=f.x]\n'

# with a replacement string, the input is not appended
run -k "$B/args" '{}' ::: a b
same_str "$OUT" "input not appended when {} is used" '[a]\n[b]\n'
run -k "$B/args" 'x{#}' ::: a b
same_str "$OUT" "input not appended when only {#} is used" '[x1]\n[x2]\n'

# {#}: job number, 1-based, in input order
run -k "$B/args" '{#}' '{}' ::: a b c d
same_str "$OUT" "{#} numbers jobs from 1 in input order" '[1]\n[a]\n[2]\n[b]\n[3]\n[c]\n[4]\n[d]\n'

seq 1 12 >"$T/in12"
run_in "$T/in12" -k -j4 echo '{#}'
same "$OUT" "$T/in12" "{#} with -j4 from stdin: 1..12"

# {%}: slot number in 1..j
run -k -j1 "$B/args" '{%}' ::: a b c
same_str "$OUT" "{%} with -j1 is always 1" '[1]\n[1]\n[1]\n'

run -k -j2 echo '{%}' ::: a b c d e f g h
if [ -z "$(grep -v -x -e 1 -e 2 "$OUT")" ] && [ "$(wc -l <"$OUT" | tr -d ' ')" = 8 ]; then
    pass "{%} with -j2 is 1 or 2"
else
    fail "{%} with -j2 is 1 or 2"
    diag_file stdout "$OUT"
fi

# jobs running at the same time have different slots: 3 jobs that wait for
# each other (barrier) at -j3
mkdir "$T/bar"
run -j3 -k sh -c 'slot=$1; "$2" "$3" 3 "$4" >/dev/null && echo "$slot"' sh '{%}' "$B/barrier" "$T/bar" '{}' ::: a b c
is "$RC" 0 "3 simultaneous jobs at -j3: exit 0"
sort "$OUT" >"$T/slots"
same_str "$T/slots" "simultaneous jobs have slots 1, 2, 3" '1\n2\n3\n'

# several ::: groups: cartesian product, first group varies slowest
run -k "$B/args" '{1}-{2}' ::: a b ::: 1 2 3
is "$RC" 0 "two groups: exit 0"
same_str "$OUT" "{1}-{2}: cartesian product, first group slowest" \
    '[a-1]\n[a-2]\n[a-3]\n[b-1]\n[b-2]\n[b-3]\n'

run -k "$B/args" '{2}' '{1}' '{2}' ::: a b ::: x
same_str "$OUT" "{2} {1} in any order, repeated" '[x]\n[a]\n[x]\n[x]\n[b]\n[x]\n'

run -k "$B/args" '{3}{2}{1}' ::: a b ::: 1 2 ::: X Y
same_str "$OUT" "three groups: cartesian order" \
    '[X1a]\n[Y1a]\n[X2a]\n[Y2a]\n[X1b]\n[Y1b]\n[X2b]\n[Y2b]\n'

run -k "$B/args" ::: a b ::: 1 2
same_str "$OUT" "two groups without replacement strings: both values appended" \
    '[a]\n[1]\n[a]\n[2]\n[b]\n[1]\n[b]\n[2]\n'

run -k "$B/args" '{#}' '{1}' ::: a b ::: 1 2
same_str "$OUT" "{#} counts combinations" '[1]\n[a]\n[2]\n[a]\n[3]\n[b]\n[4]\n[b]\n'

# {1} with one group is {}
run -k "$B/args" '{1}' ::: p q
same_str "$OUT" "{1} with one group" '[p]\n[q]\n'

# mixing ::: and :::: (a file is a group too)
printf 'f1\nf2\n' >"$T/grp"
run -k "$B/args" '{1}{2}' ::: a b :::: "$T/grp"
same_str "$OUT" "::: then :::: FILE: cartesian" '[af1]\n[af2]\n[bf1]\n[bf2]\n'
run -k "$B/args" '{1}{2}' :::: "$T/grp" ::: a b
same_str "$OUT" ":::: FILE then ::: : cartesian" '[f1a]\n[f1b]\n[f2a]\n[f2b]\n'

# the command itself may be a replacement
run -k '{}' hi ::: echo "$B/args"
same_str "$OUT" "{} as the program" 'hi\n[hi]\n'

# {N.} {N/} {N//} {N/.} (optional in the spec, documented by the tool)
run -k "$B/args" '{1.}' '{1/}' '{1//}' '{1/.}' '{2.}' '{2/}' ::: /d/f.c ::: x.y
same_str "$OUT" "{1.} {1/} {1//} {1/.} {2.} {2/}" '[/d/f]\n[f.c]\n[/d]\n[f]\n[x]\n[x.y]\n'

# {-N}: from the last group (issue #12: it was left as text)
run -k "$B/args" '{-1}' '{-2/.}' ::: a/b.c ::: d/e.f
same_str "$OUT" "{-1} {-2/.}" '[d/e.f]\n[b]\n'

# {= perl =}: evaluated with perl (it was once left as text, and
# `mv {} '{= ... =}'` moved every file onto one name); more in 17-replacements.t
if command -v perl >/dev/null; then
    run -k "$B/args" mv '{}' '{= s:\.txt$:.bak: =}' ::: "$T/f1.txt" "$T/f2.txt"
    is "$RC" 0 "{= perl =}: exit 0"
    same_str "$OUT" "{= perl =}: each file gets its own new name" '%s\n' \
        '[mv]' "[$T/f1.txt]" "[$T/f1.bak]" '[mv]' "[$T/f2.txt]" "[$T/f2.bak]"
else
    skip "{= perl =}: exit 0" "no perl"
    skip "{= perl =}: each file gets its own new name" "no perl"
fi

done_testing
