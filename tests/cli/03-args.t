#!/bin/sh
# No shell without --shell: every input is exactly one argument whatever it
# holds (quotes, spaces, $(...), backquotes, globs, ~, ;, newlines with -0);
# -0/--null and -d DELIM separators.
. "$(dirname "$0")/lib.sh"

cd "$T/work" || exit 1
: >file1
: >file2
: >"$T/work/a b"

# inputs that a shell would mangle
run -k "$B/args" ::: "it's" 'say "hi"' 'two  spaces' ' lead' 'trail ' '$(touch dollar)' \
    '`touch backq`' '*' 'file?' '[f]ile1' '~' '$HOME' 'a;touch semi' 'a|b' 'a&&b' '>redir' \
    '\\back\\' '{x}' '{}' '{.}' 'tab	tab'
is "$RC" 0 "special inputs: exit 0"
same_str "$OUT" "special inputs: each exactly one argument, unchanged" '%s\n' \
    "[it's]" '[say "hi"]' '[two  spaces]' '[ lead]' '[trail ]' '[$(touch dollar)]' \
    '[`touch backq`]' '[*]' '[file?]' '[[f]ile1]' '[~]' '[$HOME]' '[a;touch semi]' '[a|b]' \
    '[a&&b]' '[>redir]' '[\\back\\]' '[{x}]' '[{}]' '[{.}]' '[tab	tab]'
ok "no command substitution ran" test ! -e dollar -a ! -e backq -a ! -e semi
ok "no redirection happened" test ! -e redir
empty "$ERR" "special inputs: no stderr"

# the same through {} inside a word
run -k "$B/args" 'pre{}post' ::: '$(touch x2)' '* ?'
same_str "$OUT" "special inputs inside a word with {}" '[pre$(touch x2)post]\n[pre* ?post]\n'
ok "no command substitution via {}" test ! -e x2

# the same read from a file and from stdin
printf '%s\n' "it's" '$(touch f3)' '*' 'a b' >"$T/in"
run -k "$B/args" :::: "$T/in"
same_str "$OUT" ":::: FILE with special inputs" '%s\n' "[it's]" '[$(touch f3)]' '[*]' '[a b]'
run_in "$T/in" -k "$B/args"
same_str "$OUT" "stdin with special inputs" '%s\n' "[it's]" '[$(touch f3)]' '[*]' '[a b]'
ok "no command substitution from files" test ! -e f3

# fixed arguments are not shell-interpreted either
run -k "$B/args" '$(touch f4)' '*' "" ::: z
same_str "$OUT" "fixed arguments (including an empty one) passed unchanged" '[$(touch f4)]\n[*]\n[]\n[z]\n'
ok "no command substitution in fixed arguments" test ! -e f4

# options after the command belong to the command
run -k "$B/args" -j 5 --tag -k ::: a
same_str "$OUT" "options after the command are the command's arguments" '[-j]\n[5]\n[--tag]\n[-k]\n[a]\n'
run -k echo -n ::: a
same_str "$OUT" "echo -n: -n is echo's option" 'a'

# an empty input is one empty argument
run -k "$B/args" ::: '' x
same_str "$OUT" "empty input: one empty argument" '[]\n[x]\n'

# -0 / --null: NUL-separated, newlines inside inputs
printf 'line1\nline2\0with space\0$(touch n0)\0' >"$T/nul"
run_in "$T/nul" -0 -k "$B/args"
is "$RC" 0 "-0: exit 0"
same_str "$OUT" "-0: inputs with newlines, one argument each" '[line1\nline2]\n[with space]\n[$(touch n0)]\n'
ok "-0: no command substitution" test ! -e n0

run_in "$T/nul" --null -k "$B/args"
same_str "$OUT" "--null: same as -0" '[line1\nline2]\n[with space]\n[$(touch n0)]\n'

run -0 -k "$B/args" :::: "$T/nul"
same_str "$OUT" "-0 with :::: FILE" '[line1\nline2]\n[with space]\n[$(touch n0)]\n'

printf 'a\nb\0c' >"$T/nul2"
run_in "$T/nul2" -0 -k "$B/args"
same_str "$OUT" "-0: last input without a trailing NUL" '[a\nb]\n[c]\n'

# -d DELIM
printf 'a:b c:d' >"$T/colon"
run_in "$T/colon" -d : -k "$B/args"
is "$RC" 0 "-d :: exit 0"
same_str "$OUT" "-d : splits on ':'" '[a]\n[b c]\n[d]\n'

printf 'a\tb c\td' >"$T/tab"
run_in "$T/tab" -d '\t' -k "$B/args"
same_str "$OUT" "-d '\\t' (escape) splits on tabs" '[a]\n[b c]\n[d]\n'

printf 'x\ny\0z\0' >"$T/nul3"
run_in "$T/nul3" -d '\0' -k "$B/args"
same_str "$OUT" "-d '\\0' is -0" '[x\ny]\n[z]\n'

printf 'p,q\nr,s' >"$T/nl"
run_in "$T/nl" -d '\n' -k "$B/args"
same_str "$OUT" "-d '\\n' splits on newlines only" '[p,q]\n[r,s]\n'

done_testing
