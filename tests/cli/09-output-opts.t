#!/bin/sh
# --tag, --dry-run, --bar, --shell.
. "$(dirname "$0")/lib.sh"

cd "$T/work" || exit 1
: >file1

# --tag: each output line prefixed with the input and a tab
run --tag -k echo ::: 'a b' c
is "$RC" 0 "--tag: exit 0"
same_str "$OUT" "--tag: input, tab, line" 'a b\ta b\nc\tc\n'

run --tag -k printf 'l1\nl2\n%s\n' ::: x y
same_str "$OUT" "--tag: every line of a job prefixed" 'x\tl1\nx\tl2\nx\tx\ny\tl1\ny\tl2\ny\ty\n'

run --tag -k echo ::: a b ::: 1 2
same_str "$OUT" "--tag with two groups: values joined by a space (GNU parallel)" \
    'a 1\ta 1\na 2\ta 2\nb 1\tb 1\nb 2\tb 2\n'

run --tag -k true ::: silent
empty "$OUT" "--tag: a job without output prints nothing"

# --dry-run: prints the commands, runs nothing
run --dry-run -k "$B/job" "$T" ::: ok-1 ok-2
is "$RC" 0 "--dry-run: exit 0"
ok "--dry-run: no job ran" test ! -e "$T/ran-1" -a ! -e "$T/ran-2"
same_str "$OUT" "--dry-run: one line per job, the command" '%s\n' "$B/job $T ok-1" "$B/job $T ok-2"

run --dry-run -k echo '{#}' '{}' ::: a b
same_str "$OUT" "--dry-run: replacement strings done" 'echo 1 a\necho 2 b\n'

run --dry-run -k "$B/args" ::: "it's" '$(touch pwned)' 'a b' '*' ''
is "$RC" 0 "--dry-run special inputs: exit 0"
ok "--dry-run: nothing ran" test ! -e pwned
run -k "$B/args" ::: "it's" '$(touch pwned)' 'a b' '*' ''
cp "$OUT" "$T/direct"
run --dry-run -k "$B/args" ::: "it's" '$(touch pwned)' 'a b' '*' ''
sh "$OUT" >"$T/viash"
same "$T/viash" "$T/direct" "--dry-run: the printed commands, run by sh, give the same argv"
ok "--dry-run: printed commands are quoted (no injection via sh)" test ! -e pwned

run --dry-run nosuch-prog-xyz ::: a
is "$RC" 0 "--dry-run of a missing program: exit 0 (nothing runs)"
same_str "$OUT" "--dry-run of a missing program: the command" 'nosuch-prog-xyz a\n'

# --bar: progress on stderr, stdout unchanged
run -k echo ::: a b c d
cp "$OUT" "$T/nobar"
run --bar -k echo ::: a b c d
is "$RC" 0 "--bar: exit 0"
same "$OUT" "$T/nobar" "--bar: stdout byte for byte the same as without"
ok "--bar: something on stderr" test -s "$ERR"
run --bar -k false ::: a b
is "$RC" 2 "--bar: exit status unchanged"
run --bar -k sh -c 'echo "e $1" >&2' sh ::: a
ok "--bar: jobs' stderr still on stderr" grep -q 'e a' "$ERR"

# --shell: the command runs through /bin/sh -c; inputs single-quoted
run --shell -k 'echo {} | tr a-z A-Z' ::: ab cd
is "$RC" 0 "--shell: exit 0"
same_str "$OUT" "--shell: pipes work" 'AB\nCD\n'

run --shell -k 'printf "[%s]\n" {}' ::: "it's" '$(touch pwned)' '`touch pwned2`' 'a;touch pwned3' \
    '*' 'a  b' "'" '"' '\' '$HOME' 'x
y' ''
is "$RC" 0 "--shell with hostile inputs: exit 0"
same_str "$OUT" "--shell: each input is one word, unchanged" '%s\n' "[it's]" '[$(touch pwned)]' \
    '[`touch pwned2`]' '[a;touch pwned3]' '[*]' '[a  b]' "[']" '["]' '[\]' '[$HOME]' '[x
y]' '[]'
ok "--shell: inputs cannot inject commands" test ! -e pwned -a ! -e pwned2 -a ! -e pwned3

run --shell -k 'printf "[%s]\n"' ::: '$(touch pwned4)' 'p q'
same_str "$OUT" "--shell: appended input quoted too" '[$(touch pwned4)]\n[p q]\n'
ok "--shell: appended input cannot inject" test ! -e pwned4

run --shell -k 'printf "<%s>" {1} {2}; echo' ::: "a'b" ::: 'c d'
same_str "$OUT" "--shell: {1} {2} quoted" "<a'b><c d>\n"

run --shell -k 'exit {}' ::: 0 3 0 4
is "$RC" 2 "--shell: exit statuses of sh count (2 failed)"

run --shell --dry-run -k 'echo {}' ::: 'a  b'
is "$RC" 0 "--shell --dry-run: exit 0"
sh "$OUT" >"$T/viash"
same_str "$T/viash" "--shell --dry-run: the printed command, run by sh, works" 'a  b\n'

done_testing
