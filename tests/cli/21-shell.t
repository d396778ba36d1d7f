#!/bin/sh
# Issue #12 item 7, the shell: --shell[=PATH] (exported bash functions),
# -q/--quote, --dryrun, --shellquote, and commands that need a shell
# refused with a hint before anything runs.
. "$(dirname "$0")/lib.sh"

if command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
    HAVE=1
else
    HAVE=0
fi
PHOME=$T/phome
mkdir "$PHOME"
# gnu NAME OURS_FILE -- ARGS...: GNU parallel's stdout for ARGS is OURS_FILE
gnu() {
    name=$1
    ours=$2
    shift 3
    if [ "$HAVE" = 0 ]; then
        skip "$name: stdout as GNU parallel" "parallel not installed"
        return
    fi
    HOME=$PHOME timeout -k 5 $((60 * SCALE)) parallel --will-cite "$@" </dev/null >"$T/p.out" 2>"$T/p.err"
    same "$ours" "$T/p.out" "$name: stdout as GNU parallel"
}
cd "$T/work" || exit 1

# --shell: the user's $SHELL -c, so pipes work
run --shell -k 'echo {} | wc -c' ::: a bb
is "$RC" 0 "--shell: exit 0"
same_str "$OUT" "--shell: the pipe ran" '2\n3\n'
gnu "--shell pipe" "$OUT" -- -k 'echo {} | wc -c' ::: a bb

# --shell=PATH, and $SHELL
export SHELL
SHELL=/bin/sh
run --shell=/bin/bash -k 'echo ${BASH_VERSION:+bash} {}' ::: x
same_str "$OUT" "--shell=PATH runs that shell" 'bash x\n'
SHELL=/bin/bash
run --shell -k 'echo ${BASH_VERSION:+bash} {}' ::: x
same_str "$OUT" "--shell runs \$SHELL" 'bash x\n'
SHELL=relative
run --shell -k 'echo ok {}' ::: x
same_str "$OUT" "--shell: a relative \$SHELL falls back to /bin/sh" 'ok x\n'
SHELL=/bin/sh
run --shell=/nonexistent/sh echo ::: x
is "$RC" 255 "--shell=PATH not a program: exit 255"
grep -q "not an executable shell" "$ERR"; ok "--shell=PATH not a program: message" test $? = 0

# exported bash function
# (valgrind does not pass bash's BASH_FUNC_f%% variables on: not under a wrap)
if command -v bash >/dev/null 2>&1 && [ -z "$FORKPOOL_WRAP" ]; then
    cat >"$T/fn.sh" <<EOS
f() { echo "f:\$1"; }
export -f f
SHELL=/bin/bash $FORKPOOL_WRAP "$FORKPOOL_BIN" --shell -k f ::: 1 2
echo "rc=\$?"
$FORKPOOL_WRAP "$FORKPOOL_BIN" f ::: 1 2>&1
echo "rc=\$?"
EOS
    bash "$T/fn.sh" >"$T/fn.out" 2>&1
    head -3 "$T/fn.out" >"$T/fn.3"
    same_str "$T/fn.3" "export -f function runs with --shell" 'f:1\nf:2\nrc=0\n'
    grep -q "'f' is a shell function, not a program.*--shell" "$T/fn.out"
    ok "a function without --shell: hint" test $? = 0
    grep -q "^rc=255" "$T/fn.out"; ok "a function without --shell: exit 255" test $? = 0
else
    skip "export -f function runs with --shell" "no bash, or under FORKPOOL_WRAP"
    skip "a function without --shell: hint" "no bash, or under FORKPOOL_WRAP"
    skip "a function without --shell: exit 255" "no bash, or under FORKPOOL_WRAP"
fi

# One argument with shell syntax: refused, nothing runs
run 'touch ran; echo {} | wc -c' ::: a
is "$RC" 255 "one word with shell syntax: exit 255"
empty "$OUT" "one word with shell syntax: no output"
grep -q "add --shell" "$ERR"; ok "one word with shell syntax: hint --shell" test $? = 0
ok "one word with shell syntax: nothing ran" test ! -e ran
run 'echo {}' ::: a
is "$RC" 255 "one word with a space: exit 255"
grep -q "one argument with spaces" "$ERR"; ok "one word with a space: message" test $? = 0
run FOO=1 env ::: a
is "$RC" 255 "VAR=value first word: exit 255"

# A bare operator word
for op in '|' '>' '&&' ';' '2>&1' '>out'; do
    run echo '{}' "$op" wc ::: a
    is "$RC" 255 "bare '$op': exit 255"
    grep -q "add --shell" "$ERR"; ok "bare '$op': hint --shell" test $? = 0
done
ok "no file 'wc' or 'out' made" test ! -e wc -a ! -e out
run echo '{};' exit '{}' ::: 0
is "$RC" 255 "a word {}; (GNU parallel's {}\\;): exit 255"
run echo Starting '{};date' ::: 0
is "$RC" 255 "a word {};date: exit 255"
: >f1
run -k find '{}' -name f1 -exec echo found ';' ::: .
is "$RC" 0 "find -exec ... ';' is not refused"
same_str "$OUT" "find -exec ... ';' runs" 'found\n'
run -k find . -name f1 '(' ! -name f2 ')' ::: -print
same_str "$OUT" "find's ( ! ) are not refused" './f1\n'
run -k sed 's/a/b/;s/c/d/' ::: /dev/null
is "$RC" 0 "a sed script with ; is not refused"

# A word wrapped in quotes a shell would remove
run perl -e \''print "@ARGV\n"'\' ::: a
is "$RC" 255 "a word in shell quotes with a blank: exit 255"
grep -q "wrapped in quotes that only a shell removes" "$ERR"; ok "a word in shell quotes: message" test $? = 0
run echo '"$VAR"' ::: a
is "$RC" 255 "a word in double quotes with \$: exit 255"
run -k echo '"key"' ::: a
same_str "$OUT" "a quoted word without blank or \$ runs" '"key" a\n'
run -q -k echo "'a b'" ::: x
same_str "$OUT" "-q passes a quoted word" "'a b' x\\n"

# Words of a {= perl expression =} are not shell syntax
run --dry-run -k mv {} '{= $a=$_;' '$_="x;$a" =}' ::: a
is "$RC" 0 "a {= =} over several words with ; in it: not refused"
same_str "$OUT" "a {= =} over several words: the command" "mv a 'x;a'\\n"
run echo '{= $_ =}' '|' wc ::: a
is "$RC" 255 "a bare | after a {= =}: still refused"

# A builtin that is not a program
run cd ::: /
is "$RC" 255 "builtin cd: exit 255"
grep -q "'cd' is a shell builtin" "$ERR"; ok "builtin cd: hint" test $? = 0
run --shell -k cd ::: /
is "$RC" 0 "builtin cd with --shell: exit 0"

# A program that is also a builtin runs as the program
run -k echo hi ::: a
same_str "$OUT" "echo (a program too) runs" 'hi a\n'
# An existing file whose name has a space runs
printf '#!/bin/sh\necho "spaced $1"\n' >"my prog"
chmod +x "my prog"
run -k "./my prog" ::: a
same_str "$OUT" "an existing program with a space in its path runs" 'spaced a\n'

# -q / --quote: words passed as they are
run -q -k echo 'a|b' '>' ::: x
is "$RC" 0 "-q: exit 0"
same_str "$OUT" "-q: | and > passed as arguments" 'a|b > x\n'
gnu "-q" "$OUT" -- -q -k echo 'a|b' '>' ::: x
run --quote -k echo 'a  b' ::: x
same_str "$OUT" "--quote: spaces kept" 'a  b x\n'
gnu "--quote" "$OUT" -- --quote -k echo 'a  b' ::: x
run -q --shell -k echo 'a;b' ::: x
same_str "$OUT" "-q with --shell: no shell" 'a;b x\n'
run -q=1 echo ::: x
is "$RC" 255 "-q takes no value: exit 255"

# --dryrun: --dry-run's other name
run --dryrun -k echo ::: a b
is "$RC" 0 "--dryrun: exit 0"
same_str "$OUT" "--dryrun: the commands" 'echo a\necho b\n'
gnu "--dryrun" "$OUT" -- --dryrun -k echo ::: a b
run --dryrun=x echo ::: a
is "$RC" 255 "--dryrun=x: exit 255"

# --shellquote
run -k --shellquote ::: "it's" plain 'a b$c' ''
is "$RC" 0 "--shellquote: exit 0"
same_str "$OUT" "--shellquote: inputs quoted" "'it'\"'\"'s'\\nplain\\n'a b\$c'\\n''\\n"
gnu "--shellquote :::" "$OUT" -- -k --shellquote ::: "it's" plain 'a b$c' ''
printf 'x y\nz\n' >in
run_in in --shellquote
same_str "$OUT" "--shellquote: stdin lines quoted" "'x y'\\nz\\n"
run --shellquote=1 ::: a
is "$RC" 255 "--shellquote=1: exit 255"

done_testing
