/* The library's clock: CLOCK_MONOTONIC in nanoseconds. */
#ifndef FP_CLOCK_H
#define FP_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t fp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* start + ms, saturating: a limit too far to represent never falls due. */
static inline int64_t fp_after(int64_t start, long ms)
{
    if (ms > (INT64_MAX - start) / 1000000)
        return INT64_MAX;
    return start + (int64_t)ms * 1000000;
}

#endif
