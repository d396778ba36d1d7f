#!/bin/sh
# README's code compiles as shown: every complete C program in README.md (a
# ```c block that contains "main(") and every file in examples/ is compiled
# and linked against the static library, warnings as errors. Blocks without
# main( are fragments and are not compiled.
#
# Environment (make check sets these):
#   CC               the compiler (default cc)
#   FORKPOOL_LIB     the static library (default build/libforkpool.a)
#   FORKPOOL_SANFLAGS  the sanitizer flags the library was built with
#   FORKPOOL_LDLIBS  what the suite links with (default -lpthread; make
#                    coverage adds --coverage)
#                    (make check SANITIZE=1), needed to link against it
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
LIB=${FORKPOOL_LIB:-$ROOT/build/libforkpool.a}
SAN=${FORKPOOL_SANFLAGS:-}
LIBS=${FORKPOOL_LDLIBS:--lpthread}
FLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I$ROOT/include"

n=0
failed=0
ok() { n=$((n + 1)); printf 'ok %d - %s\n' "$n" "$1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); printf 'not ok %d - %s\n' "$n" "$1"; }

if [ ! -f "$LIB" ]; then
    echo "Bail out! FORKPOOL_LIB ($LIB) does not exist; run make first"
    exit 255
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/forkpool-docs.XXXXXX")
trap 'rm -rf "$T"' EXIT

# compiles NAME FILE: one TAP line; the compiler's messages as diagnostics.
compiles() {
    # shellcheck disable=SC2086
    if $CC $FLAGS $SAN "$2" "$LIB" $LIBS -o "$T/a.out" >"$T/log" 2>&1; then
        ok "$1 compiles"
    else
        notok "$1 compiles"
        sed 's/^/# /' "$T/log" | head -n 40
    fi
}

# The check itself can fail: a program with a warning is rejected.
printf 'int main(void) { int unused; return 0; }\n' >"$T/bad.c"
# shellcheck disable=SC2086
if $CC $FLAGS $SAN "$T/bad.c" -o "$T/a.out" >/dev/null 2>&1; then
    notok "a program with a warning does not compile (-Werror is in effect)"
else
    ok "a program with a warning does not compile (-Werror is in effect)"
fi

# README.md: each ```c block with main( becomes T/readme-LINE.c, LINE being
# the line of its opening fence.
awk -v dir="$T" '
    /^```c[ \t]*$/ { inblock = 1; start = NR; text = ""; next }
    inblock && /^```/ {
        inblock = 0
        if (text ~ /main\(/) { f = dir "/readme-" start ".c"; printf "%s", text > f; close(f) }
        next
    }
    inblock { text = text $0 "\n" }
' "$ROOT/README.md"

programs=0
for f in "$T"/readme-*.c; do
    [ -e "$f" ] || continue
    programs=$((programs + 1))
    line=${f##*/readme-}
    compiles "README.md line ${line%.c}: complete program" "$f"
done
if [ "$programs" -gt 0 ]; then
    ok "README.md holds $programs complete program(s)"
else
    notok "README.md holds at least one complete program (a \`\`\`c block with main()"
fi

for f in "$ROOT"/examples/*.c; do
    compiles "examples/${f##*/}" "$f"
done

printf '1..%d\n' "$n"
[ "$failed" -eq 0 ]
