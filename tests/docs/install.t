#!/bin/sh
# README's build line works for a PREFIX install: `make install PREFIX=tmp`
# (no DESTDIR), then examples/hello.c built with
# `cc hello.c $(pkg-config --cflags --libs forkpool)` and run with no
# LD_LIBRARY_PATH finds the installed libforkpool.so (forkpool.pc's rpath).
# Also: every function of forkpool.h has an installed manual page (a page,
# or a symlink to its family's page), and the docs are installed.
#
# Environment (make check sets these):
#   CC                 the compiler (default cc)
#   FORKPOOL_BUILD     the build directory to install from (default build)
#   FORKPOOL_SANITIZE  1 if that build has ASan+UBSan (make check SANITIZE=1)
#   FORKPOOL_SANFLAGS  its sanitizer flags, needed to link against it
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
BUILD=${FORKPOOL_BUILD:-build}
SAN=${FORKPOOL_SANFLAGS:-}

n=0
failed=0
ok() { n=$((n + 1)); printf 'ok %d - %s\n' "$n" "$1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); printf 'not ok %d - %s\n' "$n" "$1"; }
diag_file() { sed 's/^/# /' "$1" | head -n 40; }
finish() {
    printf '1..%d\n' "$n"
    [ "$failed" -eq 0 ]
    exit
}

if ! command -v pkg-config >/dev/null 2>&1; then
    notok "pkg-config is installed (README's build line needs it: apt-get install pkg-config)"
    finish
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/forkpool-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
P=$T/prefix

# The library is built already (make check depends on it): this installs.
# A make that runs this test passes its own jobserver and level in the
# environment; this one is a separate run.
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u DESTDIR make -s -C "$ROOT" install \
    PREFIX="$P" BUILD="$BUILD" SANITIZE="${FORKPOOL_SANITIZE:-}" CC="$CC" >"$T/log" 2>&1; then
    ok "make install PREFIX=$P"
else
    notok "make install PREFIX=$P"
    diag_file "$T/log"
    finish
fi

flags=$(PKG_CONFIG_PATH=$P/lib/pkgconfig pkg-config --cflags --libs forkpool 2>"$T/log")
if [ $? -eq 0 ]; then
    ok "pkg-config --cflags --libs forkpool: $(echo $flags)"
else
    notok "pkg-config --cflags --libs forkpool finds the installed forkpool.pc"
    diag_file "$T/log"
    finish
fi

# README: cc app.c $(pkg-config --cflags --libs forkpool)
# shellcheck disable=SC2086
if $CC $SAN "$ROOT/examples/hello.c" $flags -o "$T/hello" >"$T/log" 2>&1; then
    ok "cc hello.c \$(pkg-config --cflags --libs forkpool)"
else
    notok "cc hello.c \$(pkg-config --cflags --libs forkpool)"
    diag_file "$T/log"
    finish
fi

if env -u LD_LIBRARY_PATH ldd "$T/hello" 2>&1 | grep -q "$P/lib/libforkpool\.so\.0"; then
    ok "the program links the installed libforkpool.so.0"
else
    notok "the program links the installed libforkpool.so.0"
    env -u LD_LIBRARY_PATH ldd "$T/hello" 2>&1 | sed 's/^/# /'
fi

env -u LD_LIBRARY_PATH timeout 60 "$T/hello" >"$T/out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^then:  fib(90) = 2880067194370816120, ' "$T/out" &&
    grep -q '^catch: .*fib(-1): n must not be negative' "$T/out"; then
    ok "the program runs without LD_LIBRARY_PATH: results and the failure arrive"
else
    notok "the program runs without LD_LIBRARY_PATH: results and the failure arrive (exit $rc)"
    diag_file "$T/out"
fi

# A manual page for every function of forkpool.h.
man3=$P/share/man/man3
missing=
for f in $(sed -n 's/^[a-z].*[ *]\(forkpool_[a-z0-9_]*\)(.*/\1/p' "$ROOT/include/forkpool.h" | sort -u); do
    [ -f "$man3/$f.3" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then
    ok "share/man/man3 has a page for every function of forkpool.h"
else
    notok "share/man/man3 has a page for every function of forkpool.h; missing:$missing"
fi
if [ -f "$man3/forkpool.3" ] && [ -f "$P/share/man/man1/forkpool.1" ]; then
    ok "forkpool(3) and forkpool(1) installed"
else
    notok "forkpool(3) and forkpool(1) installed"
fi

doc=$P/share/doc/forkpool
missing=
for f in README.md docs/DESIGN.md docs/RELIABILITY.md docs/BENCHMARKS.md examples/hello.c; do
    [ -f "$doc/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then
    ok "share/doc/forkpool has README.md, docs/*.md and examples/"
else
    notok "share/doc/forkpool has README.md, docs/*.md and examples/; missing:$missing"
fi

finish
