#!/bin/sh
# Same command lines, same output and exit status as GNU parallel (when it is
# installed; else each comparison is a TAP SKIP). Commands are chosen so that
# GNU parallel's shell and our direct exec see the same words.
. "$(dirname "$0")/lib.sh"

. "$TESTDIR/gnu-compare.sh"

compare "-k, two ::: groups" -- -k echo '{1}-{2}' ::: a b c ::: 1 2 3
compare "-k, three groups appended" -- -k echo ::: a b ::: 1 2 ::: x y
compare "path replacement strings" -- -k echo '{}' '{.}' '{/}' '{//}' '{/.}' '{#}' \
    ::: /x/y/z.tar.gz rel.c noext dir.d/file sub/a.b.c
compare "{1.} {1/} {1//} {1/.} {2/.}" -- -k echo '{1.}' '{1/}' '{1//}' '{1/.}' '{2/.}' ::: /a/b.c d.e/f ::: x/y.z
compare "{2} {1}" -- -k echo '{2}' '{1}' ::: a b ::: c d
compare "{-1} {-2.} {-1/} {0} {01}" -- -k echo '{-1}' '{-2.}' '{-1/}' '{0}' '{01}' \
    ::: a/b.c x ::: d/e.f
compare "{%} with -j1" -- -j1 -k echo '{%}' '{#}' ::: a b c
printf 'l1\nl 2\nl3\n' >"$T/in"
compare ":::: FILE" -- -k echo :::: "$T/in"
compare "stdin" "$T/in" -- -k echo
compare ":::: -" "$T/in" -- -k echo x :::: -
compare "::: then :::: FILE" -- -k echo '{1}{2}' ::: a b :::: "$T/in"
printf 'm1\nm2\n' >"$T/in2"
compare "-a FILE -a FILE" -- -k -a "$T/in" -a "$T/in2" echo
compare "--arg-file FILE, then :::" -- -k --arg-file "$T/in" echo '{2}-{1}' ::: x y
printf 'n1\0n2\0' >"$T/nul"
compare "-0" "$T/nul" -- -0 -k echo
printf 'd1:d2:d3' >"$T/colon"
compare "-d :" "$T/colon" -- -d : -k echo
compare "--tag" -- --tag -k echo ::: a b ::: 1 2
compare "exit status: some failures" -- -k "$B/exitwith" ::: 0 1 2 0 5
compare "exit status: 3 x false" -- false ::: 1 2 3
seq 1 101 >"$T/101"
compare "exit status: 101 x false" "$T/101" -- -j8 false
compare "exit status: all succeed" -- -k "$B/exitwith" ::: 0 0
compare "--dry-run" -- --dry-run -k echo '{#}' ::: a b c
compare "--dry-run quoting" -- --dry-run -k echo ::: "it's" 'a b' '$x' '' 'q"q'
compare "--halt now,fail=1 exit status" -- --halt now,fail=1 -j1 "$B/exitwith" ::: 0 3 0
compare "--halt soon,fail=1 exit status" -- --halt soon,fail=1 -j1 "$B/exitwith" ::: 0 4 0
compare "--halt now,success=1 exit status" -- --halt now,success=1 -j1 "$B/exitwith" ::: 5 0 0
compare "--halt now,fail=2 exit status" -- --halt now,fail=2 -j1 "$B/exitwith" ::: 6 0 7 0

# joblog: same columns except times (Seq Host Send Receive Exitval Signal Command)
if [ "$HAVE" = 1 ]; then
    set -- -k -j2 "$B/exitwith" ::: 0 3 0 9
    HOME=$PHOME parallel --will-cite --joblog "$T/p.jl" "$@" >/dev/null 2>&1
    run --joblog "$T/f.jl" "$@"
    for f in p f; do
        head -n 1 "$T/$f.jl" >"$T/$f.cols"
        tail -n +2 "$T/$f.jl" | sort -n | cut -f 1,2,5-9 >>"$T/$f.cols"
    done
    same "$T/f.cols" "$T/p.cols" "--joblog exit statuses: header and columns as GNU parallel's"
    set -- -k echo ::: "it's" 'a b' plain '$(x)'
    HOME=$PHOME parallel --will-cite --joblog "$T/p.jl" "$@" >/dev/null 2>&1
    run --joblog "$T/f.jl" "$@"
    for f in p f; do
        tail -n +2 "$T/$f.jl" | sort -n | cut -f 1,2,5-9 >"$T/$f.cols"
    done
    same "$T/f.cols" "$T/p.cols" "--joblog Receive and quoted Command as GNU parallel's"
else
    skip "--joblog exit statuses as GNU parallel's" "parallel not installed"
    skip "--joblog Command as GNU parallel's" "parallel not installed"
fi

mkdir "$T/r"
if [ "$HAVE" = 1 ]; then
    HOME=$PHOME parallel --will-cite --retries 3 "$B/counter" ::: "$T/r" >"$T/p.out" 2>"$T/p.err"
    prc=$?
    rm -f "$T/r/count"
    run --retries 3 "$B/counter" ::: "$T/r"
    same "$OUT" "$T/p.out" "--retries 3 with a job that succeeds on run 3: stdout as GNU parallel"
    is "$RC" "$prc" "--retries 3: exit status as GNU parallel"
    rm -f "$T/r/count"
    HOME=$PHOME parallel --will-cite --retries 2 "$B/counter" ::: "$T/r" >"$T/p.out" 2>"$T/p.err"
    prc=$?
    rm -f "$T/r/count"
    run --retries 2 "$B/counter" ::: "$T/r"
    same "$OUT" "$T/p.out" "--retries 2: stdout as GNU parallel"
    is "$RC" "$prc" "--retries 2: exit status as GNU parallel"
else
    for n in 1 2 3 4; do skip "--retries comparison $n" "parallel not installed"; done
fi

done_testing
