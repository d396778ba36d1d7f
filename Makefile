# forkpool: plain GNU Make.
#   make                 library (static + shared) and examples, in build/
#   make check           tests under prove
#   make check SANITIZE=1  the same, built with ASan+UBSan, in build-san/
#   make check-valgrind  the tests under valgrind (memcheck, leaks)
#   make demo            the main job: hash /usr/share/doc in parallel
#   make bench           benchmarks (see docs/BENCHMARKS.md); BENCH_QUICK=1: smoke run
#   make fuzz            libFuzzer on each decoder (wire, map records) and the CLI's
#                        parsers (templates, delimiters and records), FUZZ_SECONDS (60) each
#   make lint            cppcheck and clang-tidy (.clang-tidy), warnings fail; no call cycle in src/
#   make coverage        the tests with gcov; prints line coverage of src/
#   make soak            t_load's mixed load for SOAK_SECONDS (600)
#   make load            t_load's mix: LOAD_FRESH (100,000) FRESH and LOAD_WORKERS
#                        (1,000,000) WORKERS tasks
#   make stress          the flood tests at STRESS_BYTES (4 GiB; ~4 GiB of RAM)
#   make install PREFIX=/usr/local  header, libraries, forkpool.pc (with an rpath), the CLI,
#                        manual pages (forkpool.1, docs/man3), README and docs/
#   make MPI=1           also the MPI build (mpicc): libforkpool_mpi, forkpool_mpi.h
#   make check-mpi       the MPI tests under mpirun -np 3 (builds with MPI=1)

CC       ?= cc
PREFIX   ?= /usr/local
VERSION  := 0.1.0

ifeq ($(SANITIZE),1)
BUILD    ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# A failed allocation is an answer the code under test must handle
# (t_limits), not a reason to abort.
export ASAN_OPTIONS ?= allocator_may_return_null=1
else
BUILD    ?= build
SANFLAGS :=
endif

OPT      ?= -O2 -g
CSTD     := -std=c11 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Wpedantic -Werror
ALL_CFLAGS := $(CSTD) $(WARN) $(OPT) $(SANFLAGS) $(CFLAGS)
LDLIBS   += -lpthread

LIB_SRC  := $(wildcard src/*.c)
LIB_OBJ  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC))
LIB_A    := $(BUILD)/libforkpool.a
LIB_SO   := $(BUILD)/libforkpool.so
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/t_*.c))
BENCHES  := $(filter-out $(BUILD)/bench/mpi,$(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c)))
CLI_SRC  := $(wildcard cli/*.c)
CLI_OBJ  := $(patsubst cli/%.c,$(BUILD)/cli/%.o,$(CLI_SRC))
CLI_LIBOBJ := $(filter-out $(BUILD)/cli/main.o,$(CLI_OBJ))
CLI      := $(if $(CLI_SRC),$(BUILD)/forkpool)
CLI_UNITS := $(patsubst tests/cli/%.c,$(BUILD)/tests/cli/%,$(wildcard tests/cli/u_*.c))
CLI_TESTS := $(wildcard tests/cli/*.t)
DOC_TESTS := $(wildcard tests/docs/*.t)

PROVE    ?= prove
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
            --child-silent-after-fork=yes

.PHONY: all lib mpi install-mpi examples cli tests check check-mpi check-valgrind demo bench fuzz lint coverage soak load stress install clean FORCE

all: lib examples cli $(if $(filter 1,$(MPI)),mpi)

lib: $(LIB_A) $(LIB_SO)

# -fno-plt: the library's calls into libc go through GOT entries bound when
# the program loads, not through lazily bound PLT stubs. With lazy binding
# (gcc's default) every FRESH child resolved anew each libc function its
# set-up calls that the parent never had: ~45 us of CPU a task (issue #13).
$(BUILD)/obj/%.o: src/%.c src/*.h include/forkpool.h | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -fPIC -fno-plt -Iinclude -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# Only the forkpool_ names are exported from the shared library.
$(LIB_SO): $(LIB_OBJ) src/forkpool.map
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libforkpool.so.0 \
	    -Wl,--version-script=src/forkpool.map $(LIB_OBJ) -o $@ $(LDLIBS)

$(BUILD)/obj $(BUILD)/cli $(BUILD)/examples $(BUILD)/tests $(BUILD)/tests/cli $(BUILD)/bench:
	mkdir -p $@

examples: $(EXAMPLES)

# The MPI build (make MPI=1): libforkpool_mpi holds the whole library and
# mpi/mpi.c, the only file that includes <mpi.h>; the plain library keeps
# no dependency but libc.
MPICC    ?= mpicc
MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_A    := $(BUILD)/libforkpool_mpi.a
MPI_SO   := $(BUILD)/libforkpool_mpi.so
MPI_TESTS := $(patsubst tests/mpi/%.c,$(BUILD)/tests/mpi/%,$(wildcard tests/mpi/m_*.c))
MPI_RTESTS := $(patsubst tests/mpi/%.c,$(BUILD)/tests/mpi/%,$(wildcard tests/mpi/r_*.c))
MPI_HELPERS := $(patsubst tests/mpi/%.c,$(BUILD)/tests/mpi/%,$(wildcard tests/mpi/x_*.c))
MPI_CLI  := $(if $(CLI_SRC),$(BUILD)/forkpool-mpi)
mpi: $(MPI_A) $(MPI_SO) $(MPI_CLI)

# forkpool-mpi: the CLI's modules with a main that starts MPI.
$(BUILD)/cli/main-mpi.o: cli/main.c cli/*.h include/*.h | $(BUILD)/cli
	$(MPICC) $(ALL_CFLAGS) -DFORKPOOL_CLI_MPI -Iinclude -c $< -o $@

$(BUILD)/forkpool-mpi: $(BUILD)/cli/main-mpi.o $(CLI_LIBOBJ) $(MPI_A)
	$(MPICC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/obj/mpi.o: mpi/mpi.c src/*.h include/*.h | $(BUILD)/obj
	$(MPICC) $(ALL_CFLAGS) -fPIC -Iinclude -Isrc -c $< -o $@

$(MPI_A): $(LIB_OBJ) $(BUILD)/obj/mpi.o
	rm -f $@
	ar rcs $@ $^

$(MPI_SO): $(LIB_OBJ) $(BUILD)/obj/mpi.o src/forkpool.map
	$(MPICC) $(ALL_CFLAGS) -shared -Wl,-soname,libforkpool_mpi.so.0 \
	    -Wl,--version-script=src/forkpool.map $(LIB_OBJ) $(BUILD)/obj/mpi.o -o $@ $(LDLIBS)

$(BUILD)/tests/mpi:
	mkdir -p $@

$(BUILD)/tests/mpi/%: tests/mpi/%.c tests/*.h tests/mpi/*.h $(MPI_A) | $(BUILD)/tests/mpi
	$(MPICC) $(ALL_CFLAGS) -Iinclude -Itests $< $(MPI_A) -o $@ $(LDLIBS)

# As root, Open MPI wants to be told twice; without --bind-to none every
# forked child would inherit its rank's one-core binding. tests/mpi/m_*
# run as mpirun runs by default (a dead rank ends the job), r_* with the
# options under which the job survives a dead rank (MPI_RECOVERY), and
# the .t scripts run mpirun themselves, both ways.
MPIRUN ?= timeout -k 5 300 mpirun --oversubscribe --bind-to none
MPI_RECOVERY := --mca orte_enable_recovery 1 --mca orte_abort_on_non_zero_status 0
MPI_NP ?= 3
check-mpi: $(MPI_TESTS) $(MPI_RTESTS) $(MPI_HELPERS) $(MPI_CLI) $(CLI)
	OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
	    $(PROVE) --exec '$(MPIRUN) -np $(MPI_NP)' $(MPI_TESTS)
	OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
	    $(PROVE) --exec '$(MPIRUN) $(MPI_RECOVERY) -np $(MPI_NP)' $(MPI_RTESTS)
	OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MPIRUN='$(MPIRUN)' \
	    MPI_RECOVERY='$(MPI_RECOVERY)' BUILD=$(BUILD) $(PROVE) $(wildcard tests/mpi/*.t)

# The command-line tool: a client of the public API only, in modules
# (docs/DESIGN.md, "The command-line tool's modules").
cli: $(CLI)

$(BUILD)/cli/%.o: cli/%.c cli/*.h include/forkpool.h | $(BUILD)/cli
	$(CC) $(ALL_CFLAGS) -Iinclude -c $< -o $@

$(BUILD)/forkpool: $(CLI_OBJ) $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(CLI_OBJ) $(LIB_A) -o $@ $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(LIB_A) | $(BUILD)/examples
	$(CC) $(ALL_CFLAGS) -Iinclude $< $(LIB_A) -o $@ $(LDLIBS)

tests: $(TESTS) $(CLI_UNITS)

# Tests may include src/ headers to test internals (t_wire).
$(BUILD)/tests/%: tests/%.c tests/*.h tests/fuzz/*.c $(LIB_A) | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -Iinclude -Isrc -Itests $< $(LIB_A) -o $@ $(LDLIBS)

# The CLI's unit tests (tests/cli/u_*.c) link its modules, all but main.o;
# each replays its parser's fuzz corpus.
$(BUILD)/tests/cli/%: tests/cli/%.c tests/tap.h tests/fuzz/*.c cli/*.h $(CLI_LIBOBJ) $(LIB_A) \
    | $(BUILD)/tests/cli
	$(CC) $(ALL_CFLAGS) -Iinclude -Icli -Itests $< $(CLI_LIBOBJ) $(LIB_A) -o $@ $(LDLIBS)

# tests/cli/*.t are shell scripts driving $(FORKPOOL_BIN); FORKPOOL_WRAP runs
# the tool under valgrind in check-valgrind, with the pidfd fallback that
# valgrind would pick anyway (it warns on stderr about pidfd_open, which the
# tests compare byte for byte).
# Every C test runs once per pool variant (tests/tap.h): build/variants/V/t_x
# is a two-line script that runs build/tests/t_x with FORKPOOL_TEST_VARIANT=V
# (under $$FORKPOOL_TEST_WRAP, e.g. valgrind, if set). The CLI's unit tests
# make no pool: they run once.
VARIANTS ?= fresh workers server workers-server
VARIANT_TESTS := $(foreach v,$(VARIANTS),$(patsubst $(BUILD)/tests/%,$(BUILD)/variants/$(v)/%,$(TESTS)))
# The hostile-task tests run once more per mode with contain on (variants
# contain and workers-contain: every pool a test makes contains).
CONTAIN_TESTS := t_contain t_crash t_escape t_timeout_tree t_pdeathsig t_timeout t_fault_task \
                 t_throw t_exec t_cancel
VARIANT_TESTS += $(foreach v,contain workers-contain,$(patsubst %,$(BUILD)/variants/$(v)/%,$(CONTAIN_TESTS)))

$(BUILD)/variants/%: Makefile
	@mkdir -p $(dir $@)
	@printf '#!/bin/sh\nFORKPOOL_TEST_VARIANT=%s exec $${FORKPOOL_TEST_WRAP} %s "$$@"\n' \
	    $(notdir $(patsubst %/,%,$(dir $@))) $(abspath $(BUILD)/tests/$(notdir $@)) > $@
	@chmod +x $@

# Tests mostly wait on children, so they run three at a time (two under
# valgrind, which is CPU-bound); each is independent of the others.
JOBS ?= 3

# tests/docs/*.t check the documentation against the code: README's and
# examples/' programs compile against $(FORKPOOL_LIB) (with the sanitizer
# flags it was built with), `make install PREFIX=tmp` gives a working
# pkg-config build line, and the manual pages render and cover the header.
DOC_ENV := CC='$(CC)' FORKPOOL_LIB=$(abspath $(LIB_A)) FORKPOOL_SANFLAGS='$(SANFLAGS)' \
           FORKPOOL_LDLIBS='$(LDLIBS)' \
           FORKPOOL_BUILD=$(BUILD) FORKPOOL_SANITIZE=$(SANITIZE)

check: $(TESTS) $(VARIANT_TESTS) $(CLI) $(CLI_UNITS) $(LIB_SO)
	FORKPOOL_BIN=$(abspath $(CLI)) $(DOC_ENV) $(PROVE) -j$(JOBS) --exec '' $(VARIANT_TESTS) \
	    $(CLI_TESTS) $(CLI_UNITS) $(DOC_TESTS)

check-valgrind: $(TESTS) $(VARIANT_TESTS) $(CLI) $(CLI_UNITS)
	TEST_TIME_SCALE=10 FORKPOOL_TEST_WRAP='$(VALGRIND)' $(PROVE) -j2 --exec '' $(VARIANT_TESTS)
	$(if $(CLI_TESTS),TEST_TIME_SCALE=10 FORKPOOL_BIN=$(abspath $(CLI)) FORKPOOL_NO_PIDFD=1 \
	    FORKPOOL_WRAP='$(VALGRIND)' $(PROVE) -j2 --exec '' $(CLI_TESTS))
	$(if $(CLI_UNITS),TEST_TIME_SCALE=10 $(PROVE) --exec '$(VALGRIND)' $(CLI_UNITS))

demo: $(BUILD)/examples/demo
	$(BUILD)/examples/demo

SOAK_SECONDS ?= 600
soak: $(BUILD)/tests/t_load
	FORKPOOL_SOAK_SECONDS=$(SOAK_SECONDS) $(BUILD)/tests/t_load

# t_load's mix at size: 100,000 FRESH tasks, then 1,000,000 WORKERS tasks.
LOAD_FRESH ?= 100000
LOAD_WORKERS ?= 1000000
load: $(BUILD)/tests/t_load
	FORKPOOL_LOAD_TASKS=$(LOAD_FRESH) $(BUILD)/tests/t_load
	FORKPOOL_TEST_VARIANT=workers FORKPOOL_LOAD_TASKS=$(LOAD_WORKERS) $(BUILD)/tests/t_load
# t_flood and tests/cli/14-flood.t at full size (make check runs them at
# 64 MiB): 4 GiB through a task's stdout, a program's, a capture cut at
# max_output and the tool's pass-through, which holds a job's whole output
# in memory.
STRESS_BYTES ?= 4294967296
stress: $(BUILD)/tests/t_flood $(CLI)
	FORKPOOL_FLOOD_BYTES=$(STRESS_BYTES) FORKPOOL_BIN=$(abspath $(CLI)) \
	    $(PROVE) -v --exec '' $(BUILD)/tests/t_flood tests/cli/14-flood.t

# Line coverage of src/ from the whole suite (C tests and the CLI's).
coverage:
	rm -rf build-cov
	$(MAKE) --no-print-directory BUILD=build-cov OPT='-O0 -g --coverage -DFP_COVERAGE' \
	    LDLIBS='-lpthread --coverage' check
	cd build-cov/obj && gcov -n -o . $(LIB_SRC:src/%=../../src/%) 2>/dev/null | \
	    awk '/^File .*src\/[a-z]*\.c/ {f=$$2; next} /^File/ {f=""} \
	        f != "" && /^Lines executed/ {split($$2,a,"[:%]"); n=$$4; \
	        hit+=a[2]*n/100; all+=n; printf "%-16s %6.2f%% of %d\n", f, a[2], n; f=""} \
	        END {printf "src/ line coverage: %.1f%% of %d lines\n", 100*hit/all, all}'

LINT_SRC := $(LIB_SRC) $(wildcard cli/*.c)
# mpi/mpi.c (when mpicc is there) without clang-tidy's static analyzer,
# which crashes on it (clang-tidy 14, MemRegion::getDescriptiveName).
# Also: no two files of src/ may call each other, even through others
# (tools/deps.py reads who calls whom from the objects).
CPPCHECK := cppcheck --error-exitcode=1 --quiet --enable=warning,performance,portability \
            --std=c11 -D_GNU_SOURCE
lint: lib
	python3 tools/deps.py $(BUILD)/obj
	$(CPPCHECK) -Iinclude -Isrc $(LINT_SRC)
	clang-tidy --quiet $(LINT_SRC) -- $(CSTD) -Iinclude -Isrc
	$(if $(MPI_CFLAGS),$(CPPCHECK) -Iinclude -Isrc mpi/mpi.c)
	$(if $(MPI_CFLAGS),clang-tidy --quiet --checks=-clang-analyzer-* mpi/mpi.c -- \
	    $(CSTD) -Iinclude -Isrc $(MPI_CFLAGS))

# New inputs go to build-fuzz/corpus*; tests/fuzz/corpus_* are the seed
# corpora (add any crashing input there: t_wire, t_maprec, tests/cli/u_template
# and u_inputs replay them in every test run).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   = $(FUZZ_CC) $(CSTD) $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=all
build-fuzz/fuzz_wire: tests/fuzz/fuzz_wire.c src/wire.c src/wire.h
	mkdir -p build-fuzz/corpus
	$(FUZZ_BUILD) -Iinclude -Isrc tests/fuzz/fuzz_wire.c src/wire.c -o $@

build-fuzz/fuzz_map: tests/fuzz/fuzz_map.c src/maprec.c src/maprec.h src/wire.h
	mkdir -p build-fuzz/corpus_map
	$(FUZZ_BUILD) -Iinclude -Isrc tests/fuzz/fuzz_map.c src/maprec.c -o $@

FUZZ_TEMPLATE_SRC := cli/template.c cli/rpl.c cli/perl.c cli/quote.c cli/sbuf.c cli/fpc.c
build-fuzz/fuzz_template: tests/fuzz/fuzz_template.c $(FUZZ_TEMPLATE_SRC) cli/*.h include/*.h
	mkdir -p build-fuzz/corpus_template
	$(FUZZ_BUILD) -Iinclude -Icli tests/fuzz/fuzz_template.c $(FUZZ_TEMPLATE_SRC) -o $@

FUZZ_DELIM_SRC := cli/options.c cli/batchopt.c cli/reader.c cli/fpc.c
build-fuzz/fuzz_delim: tests/fuzz/fuzz_delim.c $(FUZZ_DELIM_SRC) cli/*.h include/*.h
	mkdir -p build-fuzz/corpus_delim
	$(FUZZ_BUILD) -Iinclude -Icli tests/fuzz/fuzz_delim.c $(FUZZ_DELIM_SRC) -o $@

fuzz: build-fuzz/fuzz_wire build-fuzz/fuzz_map build-fuzz/fuzz_template build-fuzz/fuzz_delim
	build-fuzz/fuzz_wire -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/ build-fuzz/corpus tests/fuzz/corpus_wire
	build-fuzz/fuzz_map -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/map- build-fuzz/corpus_map tests/fuzz/corpus_map
	build-fuzz/fuzz_template -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/template- build-fuzz/corpus_template \
	    tests/fuzz/corpus_template
	build-fuzz/fuzz_delim -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/delim- build-fuzz/corpus_delim tests/fuzz/corpus_delim

$(BUILD)/bench/%: bench/%.c bench/*.h $(LIB_A) | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) -Iinclude $< $(LIB_A) -o $@ $(LDLIBS)

# bench/mpi.c (FORKPOOL_MPI's rows) is built with mpicc against
# libforkpool_mpi, only when mpicc is there; run.sh runs it under mpirun.
BENCH_MPI := $(if $(MPI_CFLAGS),$(if $(wildcard bench/mpi.c),$(BUILD)/bench/mpi))
$(BUILD)/bench/mpi: bench/mpi.c bench/*.h include/*.h $(MPI_A) | $(BUILD)/bench
	$(MPICC) $(ALL_CFLAGS) -Iinclude $< $(MPI_A) -o $@ $(LDLIBS)

# BENCH_QUICK=1: a smoke run (fewer tasks and rounds); CHART=FILE: where the
# chart goes (default $(BUILD)/bench/bench.svg; docs/bench.svg for the docs).
bench: $(BENCHES) $(BENCH_MPI) $(CLI)
	BUILD=$(BUILD) BENCH_QUICK=$(BENCH_QUICK) CHART=$(CHART) MPIRUN='$(MPIRUN)' sh bench/run.sh

# Regenerated every time: it records PREFIX. Libs carries an rpath to
# $(PREFIX)/lib, so that README's `cc app.c $$(pkg-config --cflags --libs
# forkpool)` makes a program that finds libforkpool.so at run time without
# LD_LIBRARY_PATH or ldconfig, whatever PREFIX is.
$(BUILD)/forkpool.pc: FORCE
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	    'Name: forkpool' 'Description: run C functions in child processes, asynchronously' \
	    'Version: $(VERSION)' 'Libs: -L$${libdir} -Wl,-rpath,$${libdir} -lforkpool' \
	    'Libs.private: -lpthread' \
	    'Cflags: -I$${includedir}' > $(BUILD)/forkpool.pc

$(BUILD)/forkpool-mpi.pc: FORCE
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	    'Name: forkpool-mpi' 'Description: forkpool over the ranks of an MPI job' \
	    'Version: $(VERSION)' 'Requires: ompi-c' \
	    'Libs: -L$${libdir} -Wl,-rpath,$${libdir} -lforkpool_mpi' \
	    'Libs.private: -lpthread' 'Cflags: -I$${includedir}' > $@

# Manual pages: forkpool(1), and forkpool(3) with a page per function
# family, each function name a symlink to its page. forkpool_mpi_init(3)
# goes with install-mpi, as forkpool_mpi.h does: without the MPI build its
# functions do not exist. The docs keep README's layout (README.md, docs/,
# examples/), so its links hold.
MAN3     := $(filter-out docs/man3/forkpool_mpi_init.3,$(wildcard docs/man3/*.3))
MPI_MAN3 := docs/man3/forkpool_mpi_init.3
DOCDIR   := $(PREFIX)/share/doc/forkpool

install: lib cli $(BUILD)/forkpool.pc $(if $(filter 1,$(MPI)),install-mpi)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/forkpool.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libforkpool.so.$(VERSION)
	ln -sf libforkpool.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libforkpool.so.0
	ln -sf libforkpool.so.0 $(DESTDIR)$(PREFIX)/lib/libforkpool.so
	install -m 644 $(BUILD)/forkpool.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/forkpool $(DESTDIR)$(PREFIX)/bin/
	install -m 644 docs/forkpool.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	sh tools/install-man.sh $(DESTDIR)$(PREFIX)/share/man/man3 $(MAN3)
	install -d $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR)/examples
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 644 docs/*.md docs/bench.svg $(DESTDIR)$(DOCDIR)/docs/
	install -m 644 examples/*.c $(DESTDIR)$(DOCDIR)/examples/

install-mpi: mpi $(BUILD)/forkpool-mpi.pc
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/forkpool.h include/forkpool_mpi.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(MPI_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(MPI_SO) $(DESTDIR)$(PREFIX)/lib/libforkpool_mpi.so.$(VERSION)
	ln -sf libforkpool_mpi.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libforkpool_mpi.so.0
	ln -sf libforkpool_mpi.so.0 $(DESTDIR)$(PREFIX)/lib/libforkpool_mpi.so
	install -m 644 $(BUILD)/forkpool-mpi.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/forkpool-mpi $(DESTDIR)$(PREFIX)/bin/
	sh tools/install-man.sh $(DESTDIR)$(PREFIX)/share/man/man3 $(MPI_MAN3)

clean:
	rm -rf build build-san build-clang build-fuzz build-cov
