/*
 * Helpers shared by the forkpool benchmarks (header-only: the Makefile builds
 * each bench/NAME.c on its own).
 *
 * Output contract, read by bench/run.sh: rows of the results table are
 * printed to stdout as lines starting with "|"; values for the README
 * placeholders as "BENCH key value" lines; anything else is commentary.
 */
#ifndef FORKPOOL_BENCH_H
#define FORKPOOL_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Median, min and max of v[0..n), n >= 1; v is left unchanged. */
typedef struct {
    double median, min, max;
} bench_summary;

static inline bench_summary bench_summarize(const double *v, size_t n)
{
    double sorted[64];
    if (n > sizeof sorted / sizeof sorted[0])
        n = sizeof sorted / sizeof sorted[0];
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

#endif
