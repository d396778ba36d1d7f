#!/bin/sh
# GNU parallel's options about the machine and a few more its users pass:
# --number-of-threads/-cores/-cpus/-sockets, --max-line-length-allowed,
# --minversion, --use-cores-instead-of-threads and the like, -j FILE,
# --nice, --noswap, --shuf, --compress, -v; compared with GNU parallel
# where the output is deterministic.
. "$(dirname "$0")/lib.sh"
. "$TESTDIR/gnu-compare.sh"
cd "$T/work" || exit 1

# ---------------------------------------------- numbers about the machine
for o in --number-of-threads --number-of-cores --number-of-cpus --number-of-sockets \
    --max-line-length-allowed; do
    compare "$o" -- "$o"
done
run --number-of-threads
is "$(cat "$OUT")" "$(getconf _NPROCESSORS_ONLN)" "--number-of-threads: the online CPUs"
threads=$(cat "$OUT")
run --number-of-cores
cores=$(cat "$OUT")
run --number-of-sockets
sockets=$(cat "$OUT")
ok "1 <= sockets ($sockets) <= cores ($cores) <= threads ($threads)" \
    test "$sockets" -ge 1 -a "$cores" -ge "$sockets" -a "$threads" -ge "$cores"
run --show-limits </dev/null
is "$(sed -n 's/^Maximal size of command: //p' "$OUT")" \
    "$("$FORKPOOL_BIN" --max-line-length-allowed)" \
    "--max-line-length-allowed: --show-limits' maximal size"

# -j N% counts threads, cores or sockets (--dry-run's {%} is (seq-1)%jobs+1)
slots() { run "$@" -j 100% --dry-run echo {%} ::: 1 2 3 4 5 6 7 8 9; cut -d' ' -f2 "$OUT" | sort -un | wc -l | tr -d ' '; }
is "$(slots)" "$threads" "-j 100%: as many slots as threads"
is "$(slots --use-cores-instead-of-threads)" "$cores" "--use-cores-instead-of-threads: cores"
is "$(slots --use-sockets-instead-of-threads)" "$sockets" "--use-sockets-instead-of-threads: sockets"
is "$(slots --use-cpus-instead-of-cores)" "$sockets" "--use-cpus-instead-of-cores: sockets (GNU's alias)"

# --minversion: the GNU parallel release followed; 255 when asked for a later one
compare "--minversion 20130722" -- --minversion 20130722
run --minversion 20130722
same_str "$OUT" "--minversion: prints 20221122" '20221122\n'
compare "--minversion 20990101" -- --minversion 20990101
run --minversion 20990101
is "$RC" 255 "--minversion later than 20221122: exit 255"
usage_error "--minversion x" "--minversion" --minversion x

# -j FILE: the number in the file
echo 3 >jobsfile
run -j jobsfile --dry-run echo {%} ::: a b c d
same_str "$OUT" "-j FILE: 3 job slots" 'echo 1\necho 2\necho 3\necho 1\n'
printf '  2 \n9\n' >jobsfile
run -j jobsfile --dry-run echo {%} ::: a b c
same_str "$OUT" "-j FILE: the first line, blanks dropped" 'echo 1\necho 2\necho 1\n'
echo lots >jobsfile
usage_error "-j FILE holding no number" "jobsfile" -j jobsfile echo ::: a
usage_error "-j naming no file" "nosuchfile" -j nosuchfile echo ::: a

# --nice N: the jobs run at niceness N (`nice` alone prints it)
run --nice 17 -N0 nice ::: 1
same_str "$OUT" "--nice 17: the job runs at niceness 17" '17\n'
compare "--nice 17" -- --nice 17 echo this is being run with nice -n ::: 17
if [ "$(id -u)" = 0 ]; then
    run --nice -5 -N0 nice ::: 1
    same_str "$OUT" "--nice -5 as root: niceness -5" '%s\n' -5
else
    run --nice -5 -N0 nice ::: 1
    same_str "$OUT" "--nice -5 without privilege: niceness kept" '%s\n' "$(nice)"
fi
usage_error "--nice 20" "--nice" --nice 20 echo ::: a
usage_error "--nice x" "--nice" --nice x echo ::: a

# --noswap: jobs start (the machine's swapping cannot be forced here)
compare "--noswap" -- --noswap echo the system is not swapping ::: now

# --compress: accepted, output unchanged
compare "--compress" -- -k --compress echo ::: a b c

# --shuf: every job once, values in a random order, {#} counting up
run --shuf -k echo {#} {1}{2} ::: 1 2 3 4 5 6 ::: a b c d e f
is "$RC" 0 "--shuf: exit 0"
cut -d' ' -f1 "$OUT" >"$T/seqs"
seq 36 >"$T/seqs.exp"
same "$T/seqs" "$T/seqs.exp" "--shuf -k: {#} counts 1..36 in order"
cut -d' ' -f2 "$OUT" >"$T/vals"
sort "$T/vals" >"$T/vals.sorted"
(for i in 1 2 3 4 5 6; do for c in a b c d e f; do echo "$i$c"; done; done) >"$T/vals.exp"
same "$T/vals.sorted" "$T/vals.exp" "--shuf: each of the 36 combinations ran once"
# 36! orders: the chance that a shuffle leaves them as they were is 3e-42
isnt "$(cat "$T/vals")" "$(cat "$T/vals.exp")" "--shuf: not in input order"
seq 20 >in20
run_in in20 --shuf -k echo
sort -n "$OUT" >"$T/s20"
same "$T/s20" in20 "--shuf, inputs on stdin: each once"
compare_sorted "--shuf, three groups" -- --shuf echo ::: 1 2 3 ::: a b c ::: A B C

# -v: each command on stdout, before its output (grouped)
compare "-v -k" -- -v -k echo ::: a b
compare "-v --tag" -- -v --tag -k echo ::: a b
compare "-v -u -j1" -- -v -u -j1 echo ::: a b
compare "-v, a failing job" -- -v -j1 false ::: 3
compare "-v --dry-run: the command once" -- -v --dry-run echo ::: 1
compare "-vv: as -v (forkpool wraps no command)" -- -vv -k echo ::: a b

done_testing
