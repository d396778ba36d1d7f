/* Children do not draw the same random numbers: each child (FRESH) or
   worker reseeds rand()/random() and drand48() (issue #11: a port of
   spatie/async's "stop when a task draws 100" never stopped). keep_seed
   keeps the program's state: every FRESH child then draws what the
   program would draw next. */
#include <stdlib.h>
#include <string.h>

#include "forkpool.h"
#include "tap.h"

#define N 24

static int draw(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    long v[2] = {random(), lrand48()};
    return forkpool_return(ctx, v, sizeof v);
}

static long got[N][2];
static void take(forkpool_task *t, const void *r, size_t len, void *ud)
{
    (void)t;
    if (len == sizeof got[0])
        memcpy(got[(long)ud], r, len);
}

static int distinct(int k)
{
    int n = 0;
    for (int i = 0; i < N; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= got[j][k] == got[i][k];
        n += !seen;
    }
    return n;
}

static void run(int keep, unsigned concurrency)
{
    forkpool_options o = {.concurrency = concurrency, .keep_seed = keep};
    forkpool *p = forkpool_create(&o);
    memset(got, 0, sizeof got);
    for (long i = 0; i < N; i++)
        forkpool_task_release(forkpool_then(forkpool_run(p, draw, "", 0), take, (void *)i));
    is(forkpool_await(p), 0, "%s: %d draws", keep ? "keep_seed" : "default", N);
    forkpool_destroy(p);
}

int main(void)
{
    tap_watchdog(60);
    srandom(42);
    srand48(42);
    run(0, 4);
    /* 24 draws of 31 bits: a repeat by chance is ~1 in 10^7. */
    ok(distinct(0) >= N - 1, "random(): %d distinct values of %d", distinct(0), N);
    ok(distinct(1) >= N - 1, "lrand48(): %d distinct values of %d", distinct(1), N);
    if (tap_workers()) {
        /* One worker: its tasks draw the program's next numbers in turn. */
        run(1, 1);
        int same = 0;
        for (int i = 0; i < N; i++)
            same += got[i][0] == random();
        is(same, N, "keep_seed, one worker: its tasks drew the program's next %d numbers", N);
    } else {
        run(1, 4);
        long want = random();
        int same = 0;
        for (int i = 0; i < N; i++)
            same += got[i][0] == want;
        is(same, N, "keep_seed: every child drew what the program draws next");
    }
    return done_testing();
}
