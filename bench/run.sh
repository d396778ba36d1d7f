#!/bin/sh
# Runs the benchmarks that `make bench` built into build/bench/ and prints one
# markdown table, the machine it ran on, and the values for the <BENCH:...>
# placeholders in docs/README.draft.md. Builds nothing.
#
# Each bench binary prints table rows as lines starting with "|" and values
# as "BENCH key value" lines (see bench/bench.h); commentary goes to stderr.
set -eu
cd "$(dirname "$0")/.."
bin=${BUILD:-build}/bench

for b in fresh workloads queue_mem; do
    if [ ! -x "$bin/$b" ]; then
        echo "bench/run.sh: $bin/$b is missing; run 'make bench'" >&2
        exit 2
    fi
done

out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM

"$bin/fresh" >>"$out"
"$bin/workloads" >>"$out"
"$bin/queue_mem" >>"$out"
# The command-line tool against posix_spawn, xargs and GNU parallel: its own
# table, printed after this one.
cli_table=$(BUILD=${BUILD:-build} sh bench/cli.sh)

if command -v python3 >/dev/null 2>&1; then
    # optional: a failure here does not fail the run
    python3 bench/ppe.py >>"$out" || echo "bench/run.sh: bench/ppe.py failed (ignored)" >&2
fi

lscpu_field() { lscpu 2>/dev/null | sed -n "s/^$1:[[:space:]]*//p" | head -n 1; }
echo
echo "machine: $(lscpu_field 'Model name')"
echo "cpus:    $(lscpu_field 'CPU(s)') online ($(lscpu_field 'Core(s) per socket') cores per socket," \
     "$(lscpu_field 'Thread(s) per core') threads per core, $(lscpu_field 'Socket(s)') sockets)"
echo "kernel:  $(uname -r)"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo
echo "| benchmark | median | min..max | goal | met |"
echo "|---|---|---|---|---|"
grep '^|' "$out"
echo
echo "placeholders:"
echo "  <BENCH:machine> = $(lscpu_field 'Model name'), $(lscpu_field 'CPU(s)') CPUs"
echo "  <BENCH:kernel> = $(uname -r)"
sed -n 's/^BENCH \([a-z0-9_]*\) \(.*\)$/  <BENCH:\1> = \2/p' "$out"
echo
echo "$cli_table"
