/*
 * Helpers shared by the forkpool benchmarks (header-only: the Makefile builds
 * each bench/NAME.c on its own).
 *
 * Output contract, read by bench/run.sh: each measured figure is one line on
 * stdout,
 *     M <TAB> key <TAB> median <TAB> min <TAB> max <TAB> unit <TAB> what
 * and a figure this build cannot measure (a feature not built yet, a peer
 * not installed) is
 *     NA <TAB> key <TAB> reason
 * Keys are "program.figure" (fresh.raw, workers.ratio32, ...); bench/run.sh
 * names, per table row, which keys are its figure, its baseline and its
 * ratio. Commentary goes to stderr.
 *
 * Sizes: BENCH_QUICK=1 in the environment asks for a smoke run (fewer
 * tasks, fewer rounds: figures are noisier, the code paths the same);
 * BENCH_ROUNDS=N overrides the number of timed rounds.
 */
#ifndef FORKPOOL_BENCH_H
#define FORKPOOL_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

enum { BENCH_MAX_ROUNDS = 64 };

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail with CLOCK_MONOTONIC */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of v[0..n), 1 <= n <= BENCH_MAX_ROUNDS; v is left
   unchanged. */
typedef struct {
    double median, min, max;
} bench_summary;

static inline bench_summary bench_summarize(const double *v, size_t n)
{
    double sorted[BENCH_MAX_ROUNDS];
    if (n > BENCH_MAX_ROUNDS)
        n = BENCH_MAX_ROUNDS;
    memcpy(sorted, v, n * sizeof *v);
    qsort(sorted, n, sizeof *sorted, bench_cmp_double);
    double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    return (bench_summary){median, sorted[0], sorted[n - 1]};
}

static inline int bench_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

/* BENCH_QUICK set, non-empty and not "0". */
static inline int bench_quick(void)
{
    const char *q = getenv("BENCH_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

/* full, or quick in a smoke run. */
static inline unsigned long bench_size(unsigned long full, unsigned long quick)
{
    return bench_quick() ? quick : full;
}

/* Timed rounds: BENCH_ROUNDS if set (1..BENCH_MAX_ROUNDS), else full or
   quick. */
static inline int bench_rounds(int full, int quick)
{
    const char *r = getenv("BENCH_ROUNDS");
    if (r && *r) {
        int n = atoi(r);
        if (n >= 1 && n <= BENCH_MAX_ROUNDS)
            return n;
    }
    return bench_quick() ? quick : full;
}

/*
 * One side of a comparison. fn runs one round and returns its figure (for
 * example µs per task), or a negative value on failure; it does its own
 * untimed set-up, so arms may leave the process in different states (a large
 * parent, a pool kept across rounds). An arm with `na` set is not run and is
 * reported as NA with that reason.
 */
typedef double (*bench_round_fn)(void *ud, int warmup);

typedef struct {
    const char *key;  /* "program.figure" */
    const char *what; /* one line: what was measured */
    const char *unit; /* "us/task", "ms", ... */
    bench_round_fn fn;
    void *ud;
    const char *na; /* non-NULL: not measurable here, and why */
    int optional;   /* a peer: a failed round makes the arm NA ("failed")
                       instead of failing the whole run */
    int rounds;     /* filled by bench_interleave */
    double v[BENCH_MAX_ROUNDS];
} bench_arm;

/* Runs one round of arm a; 0, or -1 when it failed and is not optional
   (an optional arm that fails becomes NA and 0 is returned). */
static inline int bench_round(bench_arm *a, int r, int warmup)
{
    double v = a->fn(a->ud, warmup);
    if (v < 0) {
        fprintf(stderr, "bench: %s: %s failed\n", a->key, warmup ? "warm-up round" : "round");
        if (!a->optional)
            return -1;
        a->na = "failed";
        a->rounds = 0;
        return 0;
    }
    if (!warmup) {
        a->v[r] = v;
        a->rounds = r + 1;
        fprintf(stderr, "  %-24s round %d: %.3f %s\n", a->key, r + 1, v, a->unit);
    }
    return 0;
}

/*
 * Runs one warm-up round of every arm (fn called with warmup = 1: it may do
 * less work; not recorded), then `rounds` rounds in turn: A B C A B C ...,
 * so drift in machine load hits every arm alike. Returns 0, or -1 when a
 * round of an arm that is not optional failed (its fn said why on stderr).
 */
static inline int bench_interleave(bench_arm *arms, size_t n, int rounds)
{
    if (rounds > BENCH_MAX_ROUNDS)
        rounds = BENCH_MAX_ROUNDS;
    for (int r = -1; r < rounds; r++)
        for (size_t a = 0; a < n; a++)
            if (!arms[a].na && bench_round(&arms[a], r, r < 0) != 0)
                return -1;
    return 0;
}

static inline void bench_emit_values(const char *key, const double *v, int n, const char *unit,
                                     const char *what)
{
    bench_summary s = bench_summarize(v, (size_t)n);
    printf("M\t%s\t%.4g\t%.4g\t%.4g\t%s\t%s\n", key, s.median, s.min, s.max, unit, what);
}

static inline void bench_emit_na(const char *key, const char *reason)
{
    printf("NA\t%s\t%s\n", key, reason);
}

/* The arm's median and min..max over its rounds (NA if it did not run). */
static inline void bench_emit(const bench_arm *a)
{
    if (a->na || a->rounds == 0)
        bench_emit_na(a->key, a->na ? a->na : "not run");
    else
        bench_emit_values(a->key, a->v, a->rounds, a->unit, a->what);
}

/* The ratio a/b computed per round (rounds are paired by the interleaving),
   reported as median and min..max under key; NA when either side is. */
static inline void bench_emit_ratio(const char *key, const bench_arm *a, const bench_arm *b,
                                    const char *what)
{
    if (a->na || b->na || a->rounds == 0 || b->rounds == 0) {
        bench_emit_na(key, a->na ? a->na : b->na ? b->na : "not run");
        return;
    }
    double r[BENCH_MAX_ROUNDS];
    int n = a->rounds < b->rounds ? a->rounds : b->rounds;
    for (int i = 0; i < n; i++)
        r[i] = a->v[i] / b->v[i];
    bench_emit_values(key, r, n, "x", what);
}

/*
 * Runs a peer written in another language (a Python script) for one round:
 * `cmd` must print one number (the round's figure) on its last stdout line.
 * Returns that number, or -1 (the command failed or printed none). Runs
 * through /bin/sh, so cmd must be trusted (it comes from this program).
 */
static inline double bench_external(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        perror("bench: popen");
        return -1;
    }
    char line[256];
    double v = -1;
    while (fgets(line, sizeof line, p) != NULL) {
        char *end;
        double x = strtod(line, &end);
        v = end != line ? x : -1;
    }
    int st = pclose(p);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench: `%s` failed (status %d)\n", cmd, st);
        return -1;
    }
    return v;
}

/* The Python interpreter bench/run.sh found (BENCH_PYTHON), or NULL when it
   found none: then the Python peers are reported NA. */
static inline const char *bench_python(void)
{
    const char *py = getenv("BENCH_PYTHON");
    return py && *py ? py : NULL;
}

#endif
