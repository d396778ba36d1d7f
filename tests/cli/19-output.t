#!/bin/sh
# Issue #12 item 5, output: --tagstring, -t/--verbose, --results DIR and
# FILE.csv/.tsv, --files, --tmpdir, -u/--ungroup, --line-buffer/--lb, --eta,
# --progress; compared with GNU parallel where its output is deterministic.
. "$(dirname "$0")/lib.sh"

if command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
    HAVE=1
else
    HAVE=0
fi
PHOME=$T/phome
mkdir "$PHOME"
# gnu ARGS...: GNU parallel's stdout in $T/p.out, stderr in $T/p.err
gnu() {
    HOME=$PHOME timeout -k 5 $((60 * SCALE)) parallel --will-cite "$@" </dev/null >"$T/p.out" 2>"$T/p.err"
}
# as_gnu NAME GOT -- ARGS...: GOT is GNU parallel's stdout for ARGS
as_gnu() {
    name=$1
    got=$2
    shift 3
    if [ "$HAVE" = 0 ]; then
        skip "$name: as GNU parallel" "parallel not installed"
        return
    fi
    gnu "$@"
    same "$got" "$T/p.out" "$name: as GNU parallel"
}
cd "$T/work" || exit 1

# --tagstring
run -k --tagstring '{}-X' echo ::: a b
is "$RC" 0 "--tagstring: exit 0"
same_str "$OUT" "--tagstring with {}" 'a-X\ta\nb-X\tb\n'
as_gnu "--tagstring {}-X" "$OUT" -- -k --tagstring '{}-X' echo ::: a b
run -k --tagstring 'T{#}:{2}' echo ::: a b ::: c
same_str "$OUT" "--tagstring with {#} and {2}" 'T1:c\ta c\nT2:c\tb c\n'
as_gnu "--tagstring T{#}:{2}" "$OUT" -- -k --tagstring 'T{#}:{2}' echo ::: a b ::: c
run -k --tagstring lit printf 'x\ny\n' ::: a
same_str "$OUT" "--tagstring without replacement strings: every line" 'lit\tx\nlit\ty\n'
# {= =} in --tagstring: one perl for the command and the tag (variables
# shared), evaluated as each job starts, in job order
run -k -j1 --tagstring '{= $_ = "T" . ++$::n =}' echo '{= $_ .= ++$::n =}' ::: a b
same_str "$OUT" "--tagstring {= =}: evaluated after the command's, same perl" 'T2\ta1\nT4\tb3\n'
# (GNU parallel evaluates the first job's tag before its command, the
# others' after: no comparison)
run -k -j1 --rpl '{up} $_ = uc' --tagstring '{up}:{%}' echo ::: a b
same_str "$OUT" "--tagstring with a --rpl string" 'A:1\ta\nB:1\tb\n'
run -k --tagstring '\033[1m{}\t' echo ::: a
same_str "$OUT" "--tagstring: \\033 and \\t decoded, as GNU parallel" '\033[1ma\t\ta\n'
as_gnu "--tagstring with escapes" "$OUT" -- -k --tagstring '\033[1m{}\t' echo ::: a
run --tagstring '{= die "no" =}' echo ::: a
is "$RC" 255 "--tagstring {= =} that dies: exit 255"
empty "$OUT" "... nothing printed"
run --tagstring
is "$RC" 255 "--tagstring without a value: exit 255"

# -t / --verbose: the command on stderr before it runs
run -t -k echo ::: a 'b c'
is "$RC" 0 "-t: exit 0"
same_str "$OUT" "-t: stdout unchanged" 'a\nb c\n'
same_str "$ERR" "-t: commands on stderr" "echo a\\necho 'b c'\\n"
if [ "$HAVE" = 1 ]; then
    gnu -t -k echo ::: a 'b c'
    same "$ERR" "$T/p.err" "-t: stderr as GNU parallel"
else
    skip "-t: stderr as GNU parallel" "parallel not installed"
fi
run --verbose -k echo ::: a
same_str "$ERR" "--verbose: command on stderr" 'echo a\n'
run --verbose=1 echo ::: a
is "$RC" 255 "--verbose=1: exit 255"

# --results DIR
run -k --results res printf %s- ::: a 'b/c' 'd\e' ::: x
is "$RC" 0 "--results DIR: exit 0"
empty "$OUT" "--results DIR: nothing on stdout"
(cd res && find . -type f | LC_ALL=C sort) >"$T/tree"
if [ "$HAVE" = 1 ]; then
    gnu -k --results "$T/gres" printf %s- ::: a 'b/c' 'd\e' ::: x
    (cd "$T/gres" && find . -type f | LC_ALL=C sort) >"$T/gtree"
    same "$T/tree" "$T/gtree" "--results DIR: same files as GNU parallel"
    ok "--results DIR: same contents as GNU parallel" diff -r res "$T/gres"
else
    skip "--results DIR: same files as GNU parallel" "parallel not installed"
    skip "--results DIR: same contents as GNU parallel" "parallel not installed"
fi
same_str res/1/b\\_c/2/x/stdout "--results DIR: stdout file" 'b/c-x-'
same_str res/1/a/2/x/seq "--results DIR: seq file" '1'
run --results res2 sh -c 'echo out; echo err >&2' ::: v
empty "$ERR" "--results DIR: stderr kept in the files"
same_str res2/1/v/stderr "--results DIR: stderr file" 'err\n'
run --header : --results hres echo ::: f1 A B ::: f2 C D
is "$RC" 0 "--header : --results: exit 0"
same_str hres/f1/A/f2/D/stdout "--header : --results: directories named by the columns" 'A D\n'
if [ "$HAVE" = 1 ]; then
    gnu --header : --results "$T/ghres" echo ::: f1 A B ::: f2 C D
    ok "--header : --results: as GNU parallel" diff -r hres "$T/ghres"
else
    skip "--header : --results: as GNU parallel" "parallel not installed"
fi
# --results NAME with replacement strings: NAME/ a directory of stdout,
# stderr, seq; else NAME, NAME.err, NAME.seq (parents made), as GNU parallel
printf '#!/bin/sh\necho "o$1"; echo "e$1" >&2\n' >"$B/oe"
chmod +x "$B/oe"
mkdir mine gr
cd mine || exit 1
run -k --results 'rt/{}/' "$B/oe" ::: a b
is "$RC" 0 "--results NAME{}/: exit 0"
empty "$OUT" "... nothing on stdout"
is "$(cat rt/a/stdout rt/b/stdout rt/b/stderr rt/b/seq)" "oa
ob
eb
2" "... NAME/stdout, stderr and seq for each job"
run -k --results 'rf/x/{#}.out' "$B/oe" ::: a b
is "$(cat rf/x/1.out rf/x/2.out.err rf/x/2.out.seq)" "oa
eb
2" "--results NAME{#}.out: NAME, NAME.err, NAME.seq, parents made"
cd .. || exit 1
if [ "$HAVE" = 1 ]; then
    (cd gr && gnu -k --results 'rt/{}/' "$B/oe" ::: a b && gnu -k --results 'rf/x/{#}.out' "$B/oe" ::: a b)
    ok "... the same files as GNU parallel" diff -r gr mine
else
    skip "... the same files as GNU parallel" "parallel not installed"
fi
run -k --results '{= $_ = "rp/" . $job->seq() . "-" . $_ =}' echo ::: a
same_str rp/1-a "--results with {= =}: the expression names the file" 'a\n'
run --results 'x{}.csv' echo ::: a
is "$RC" 255 "--results x{}.csv: exit 255 (a CSV file's name is not a template)"
ok "... no file made" test ! -e 'xa.csv' -a ! -e 'x{}.csv'
run --results 'd{}' echo ::: ''
is "$RC" 0 "--results d{} with an empty input: the name is 'd'"
: >notadir
run --results notadir/x echo ::: a
is "$RC" 255 "--results under a file: exit 255"

# --results FILE.csv / FILE.tsv (Starttime and JobRuntime vary: cut out)
run -k --results out.csv echo ::: 'a,b' 'q"x' '' plain
is "$RC" 0 "--results FILE.csv: exit 0"
cutcsv() { awk 'BEGIN { FS = OFS = "," } NR > 1 && /^[0-9]+,:,/ { $3 = "T"; $4 = "R" } { print }' "$1"; }
cutcsv out.csv >"$T/csv"
if [ "$HAVE" = 1 ]; then
    gnu -k --results "$T/g.csv" echo ::: 'a,b' 'q"x' '' plain
    cutcsv "$T/g.csv" >"$T/gcsv"
    same "$T/csv" "$T/gcsv" "--results FILE.csv: as GNU parallel"
else
    skip "--results FILE.csv: as GNU parallel" "parallel not installed"
fi
head -1 out.csv >"$T/h"
same_str "$T/h" "--results FILE.csv: header" 'Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,Stdout,Stderr\n'
run -k --results out.tsv echo ::: 'a b' c
head -1 out.tsv >"$T/h"
same_str "$T/h" "--results FILE.tsv: header" 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\tV1\tStdout\tStderr\n'
is "$(wc -l <out.tsv | tr -d ' ')" 5 "--results FILE.tsv: a row per job (stdout has a newline)"

# --files and --tmpdir
mkdir tmp
run -k --files --tmpdir tmp echo ::: a b
is "$RC" 0 "--files: exit 0"
is "$(wc -l <"$OUT" | tr -d ' ')" 2 "--files: one name per job"
first=$(head -1 "$OUT")
case $first in tmp/par*.par) pass "--files: named tmp/parXXXXXX.par" ;; *) fail "--files: named tmp/parXXXXXX.par"; diag "got $first" ;; esac
xargs cat <"$OUT" >"$T/cat"
same_str "$T/cat" "--files: the files hold the outputs" 'a\nb\n'
run --files --tmpdir nosuchdir echo ::: a
is "$RC" 255 "--tmpdir not a directory: exit 255"
run -k --files --results fres echo ::: a
same_str "$OUT" "--files --results DIR: the stdout files' names" 'fres/1/a/stdout\n'
mkdir g && cd g || exit 1 # (a failed cd would skip the comparison silently)
as_gnu "--files --results DIR" "$OUT" -- -k --files --results fres echo ::: a
cd "$T/work" || exit 1

# -u / --ungroup: jobs write straight to our stdout
run -u -j1 echo ::: a b
is "$RC" 0 "-u: exit 0"
same_str "$OUT" "-u -j1: outputs" 'a\nb\n'
as_gnu "-u -j1" "$OUT" -- -u -j1 echo ::: a b
run --ungroup -j1 sh -c 'echo e >&2' ::: a
same_str "$ERR" "--ungroup: stderr too" 'e\n'
run -u --tag echo ::: a
is "$RC" 255 "-u with --tag: exit 255"

# --line-buffer / --lb: lines never mixed
run --line-buffer -k echo ::: a b
same_str "$OUT" "--line-buffer: outputs" 'a\nb\n'
as_gnu "--line-buffer -k" "$OUT" -- --line-buffer -k echo ::: a b
run --lb -j1 echo ::: a b
same_str "$OUT" "--lb: outputs" 'a\nb\n'
run --linebuffer -j1 echo ::: a b
same_str "$OUT" "--linebuffer: outputs" 'a\nb\n'
run --lb=1 echo ::: a
is "$RC" 255 "--lb=1: exit 255"

# --line-buffer prints a running job's complete lines as they come: each job
# below prints a line and a partial one, then waits (bounded) for the flag
# file the test makes once the line is out (the job waits twice as long as
# the test does, so that a line printed only when the job ends fails).
lb_job='printf "%s-start\\n%s-part" {} {}; printf "%s-err\\n" {} >&2; i=0
while [ ! -e {}.flag ] && [ $i -lt '$((6000 * SCALE))' ]; do sleep 0.01; i=$((i + 1)); done; echo; echo {}-end'
# lb_wait FILE PATTERN: waits (bounded) until FILE holds PATTERN.
lb_wait() {
    _i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        _i=$((_i + 1))
        [ "$_i" -gt $((3000 * SCALE)) ] && return 1
        sleep 0.01
    done
}
_lb_dir=$(pwd)
cd "$T" || exit 1
start_bg lb.out lb.err --line-buffer --tag --shell "$lb_job" ::: x
lb_wait lb.out x-start
ok "--line-buffer: a running job's line is printed before it ends" test $? = 0
same_str lb.out "--line-buffer: only complete lines, tagged" 'x\tx-start\n'
lb_wait lb.err x-err
ok "--line-buffer: stderr's lines too" test $? = 0
: >x.flag
wait_bg 30
is "$RC" 0 "--line-buffer: exit 0"
same_str lb.out "--line-buffer: then the rest" 'x\tx-start\nx\tx-part\nx\tx-end\n'
same_str lb.err "--line-buffer: stderr once" 'x\tx-err\n'
# -k: the oldest job's lines come live, a later job's wait for its turn
# (the first run's files go: lb_wait must not find its lines before this
# run's redirection has emptied them)
rm -f x.flag lb.out lb.err
start_bg lb.out lb.err --line-buffer -k -j2 --shell "$lb_job" ::: x y
lb_wait lb.out x-start
ok "--line-buffer -k: the first job's line is printed while it runs" test $? = 0
same_str lb.out "--line-buffer -k: the second job's lines wait for their turn" 'x-start\n'
: >y.flag
: >x.flag
wait_bg 30
is "$RC" 0 "--line-buffer -k: exit 0"
same_str lb.out "--line-buffer -k: in order" 'x-start\nx-part\nx-end\ny-start\ny-part\ny-end\n'
cd "$_lb_dir" || exit 1
run --line-buffer -v -k echo ::: a b
same_str "$OUT" "--line-buffer -v: each command line before its output" 'echo a\na\necho b\nb\n'
as_gnu "--line-buffer -v -k" "$OUT" -- --line-buffer -v -k echo ::: a b

# --eta / --progress: stdout unchanged; on stderr GNU parallel's table of
# computers, then its status line, redrawn after \r, the last one kept
gnu_head() { # -j: the table GNU parallel prints first
    printf '\nComputers / CPU cores / Max jobs to run\n1:local / %s / %s\n\n' "$NCPU" "$1"
    printf 'Computer:jobs running/jobs completed/%%of started jobs/Average seconds to complete\n'
}
last_status() { tr '\r' '\n' <"$ERR" | grep -v '^ *$' | tail -n 1 | sed 's/ *$//'; }
run --eta -k -j2 echo ::: a b
is "$RC" 0 "--eta: exit 0"
same_str "$OUT" "--eta: stdout unchanged" 'a\nb\n'
is "$(head -n 5 "$ERR")" "$(gnu_head 2)" "--eta: GNU parallel's table first (CPUs, -j)"
last=$(last_status)
case $last in
"ETA: 0s Left: 0 AVG: "[0-9].[0-9][0-9]"s  local:0/2/100%/"[0-9]*.[0-9]s) pass "--eta: GNU parallel's last status: $last" ;;
*) fail "--eta: GNU parallel's last status: $last" ;;
esac
is "$(tail -c 1 "$ERR" | od -An -c | tr -d ' ')" '\n' "--eta: stderr ends with a newline"
grep -q 'Left: 2 ' "$ERR"; ok "--eta: 2 left before any completed" test $? = 0
run --progress -k -j3 echo ::: a b
same_str "$OUT" "--progress: stdout unchanged" 'a\nb\n'
is "$(head -n 5 "$ERR")" "$(gnu_head 3)" "--progress: the table"
last=$(last_status)
case $last in
"local:0/2/100%/"[0-9]*.[0-9]s) pass "--progress: GNU parallel's last status: $last" ;;
*) fail "--progress: GNU parallel's last status: $last" ;;
esac
grep -q ETA "$ERR"; ok "--progress: no ETA" test $? = 1
seq 3 >"$T/three"
run_in "$T/three" --eta -j1 -k echo
same_str "$OUT" "--eta, inputs on stdin: stdout unchanged" '1\n2\n3\n'
grep -q 'Left: 3 ' "$ERR"; ok "--eta, inputs on stdin: all read first, 3 left at the start" test $? = 0
run_in "$T/three" --bar --total-jobs 6 -j1 echo
grep -q '50% 3/6' "$ERR"; ok "--bar --total-jobs 6, 3 inputs on stdin: 3/6 done at the end" test $? = 0
run_in "$T/three" --total 4 -k --plus echo {##}
same_str "$OUT" "--total 4: {##} is 4" '4\n4\n4\n'
run --total-jobs x echo ::: a
is "$RC" 255 "--total-jobs x: exit 255"
ok "--total-jobs x: says why" grep -q "bad value 'x' for --total-jobs" "$ERR"
run --eta --bar -k echo ::: a b
grep -q '\[#*' "$ERR"; ok "--eta --bar: the bar wins, as in GNU parallel" test $? = 0
grep -q 'Computers' "$ERR"; ok "--eta --bar: no table" test $? = 1
run --eta=x echo ::: a
is "$RC" 255 "--eta=x: exit 255"

done_testing
