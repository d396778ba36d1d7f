#!/bin/sh
# A job writes a lot while the tool's reader is slow (it starts reading a
# second late): every byte is passed through, in order, and nothing is said
# on stderr. FORKPOOL_FLOOD_BYTES sets the size (64 MiB); make stress uses
# 4 GiB, which the tool holds in memory until the job ends, as it holds
# every job's output (about 4 GiB of RAM).
. "$(dirname "$0")/lib.sh"

N=${FORKPOOL_FLOOD_BYTES:-67108864}
mkscript flood <<'EOF2'
yes 0123456789abcdef 2>/dev/null | head -c "$1"
EOF2
want=$({ "$B/flood" "$N"; "$B/flood" 1000; } | cksum)
limit=$((60 * SCALE + N / 8388608))
got=$({
    timeout -k 5 "$limit" $FORKPOOL_WRAP "$FORKPOOL_BIN" -k -j2 "$B/flood" ::: "$N" 1000 \
        2>"$T/err"
    echo $? >"$T/rc"
} | {
    sleep 1
    cksum
})
is "$(cat "$T/rc")" 0 "exit status 0"
is "$got" "$want" "$N + 1000 bytes passed through, in order (cksum)"
if [ -n "$FORKPOOL_WRAP" ]; then
    sed '/^--[0-9][0-9]*-- /d' "$T/err" >"$T/err.tmp" && mv "$T/err.tmp" "$T/err"
fi
empty "$T/err" "nothing on stderr"
done_testing
