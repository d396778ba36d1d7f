#!/bin/sh
# Large outputs: whole and never interleaved even when far larger than a pipe
# buffer; the tool does not keep printed outputs (peak RSS stays far below
# the total output); stdin inputs are streamed (jobs start before EOF).
. "$(dirname "$0")/lib.sh"

# bigprint ID LINES: LINES lines "ID out i"
mkscript bigprint <<'EOS'
seq 1 "$2" | sed "s/^/$1 out /"
EOS

run -j3 "$B/bigprint" '{}' 40000 ::: A B C
is "$RC" 0 "3 jobs x 40000 lines at once: exit 0"
is "$(wc -l <"$OUT" | tr -d ' ')" 120000 "3 jobs x 40000 lines: all lines"
is "$(check_grouped "$OUT")" "" "3 jobs x ~480 KiB at once, no -k: each job's output whole, not interleaved"

# peak memory: 64 jobs x 2 MiB of output (128 MiB in all) to /dev/null
if [ -n "$FORKPOOL_WRAP" ]; then
    skip "peak RSS without -k" "the tool runs under a wrapper ($FORKPOOL_WRAP)"
    skip "peak RSS with -k" "the tool runs under a wrapper"
elif grep -q -a __asan_init "$FORKPOOL_BIN"; then
    skip "peak RSS without -k" "built with AddressSanitizer (its quarantine keeps freed memory)"
    skip "peak RSS with -k" "built with AddressSanitizer"
elif ! command -v python3 >/dev/null 2>&1; then
    skip "peak RSS without -k" "python3 not installed"
    skip "peak RSS with -k" "python3 not installed"
else
    # prints "STATUS MAXRSS_KIB" of the tool (and its jobs: they are tiny)
    peak() {
        python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
' "$@"
    }
    seq 1 64 >"$T/in64"
    # {#} only, so no input is appended: head -c 2097152 /dev/zero
    set -- $(peak "$FORKPOOL_BIN" -j4 sh -c 'head -c 2097152 /dev/zero' '{#}' :::: "$T/in64")
    is "${1:-}" 0 "64 jobs x 2 MiB output: exit 0"
    ok "64 jobs x 2 MiB output, no -k: peak RSS ${2:-?} KiB < 64 MiB (outputs released once printed)" \
        test "${2:-999999}" -lt 65536
    set -- $(peak "$FORKPOOL_BIN" -k -j4 sh -c 'head -c 2097152 /dev/zero' '{#}' :::: "$T/in64")
    is "${1:-}" 0 "64 jobs x 2 MiB output with -k: exit 0"
    ok "64 jobs x 2 MiB output, -k: peak RSS ${2:-?} KiB < 64 MiB (printed outputs released)" \
        test "${2:-999999}" -lt 65536
fi

# stdin is streamed: the first job runs while stdin is still open
mkfifo "$T/fifo"
exec 7<>"$T/fifo"
BG_STDIN=$T/fifo
start_bg "$T/bgout" "$T/bgerr" -j2 "$B/job" "$T"
BG_STDIN=
echo ok-1 >&7
ok "stdin inputs are streamed: a job ran before stdin reached EOF" wait_file 20 "$T/ran-1"
exec 7>&-
wait_bg 20
is "$RC" 0 "stdin closed: the tool ends, exit 0"
same_str "$T/bgout" "streamed job's output" 'ok 1\n'

done_testing
