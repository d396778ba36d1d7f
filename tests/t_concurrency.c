/* The concurrency limit: never more tasks at once than allowed, the slots
   are used, queued tasks start in the order queued, and concurrency 0 means
   the number of online CPUs. */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int now, max, total;
    _Atomic int order[64];
    _Atomic int norder;
    _Atomic int arrived;
};
static struct shared *sh;

static int task_count(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    int n = atomic_fetch_add(&sh->now, 1) + 1;
    int m = atomic_load(&sh->max);
    while (n > m && !atomic_compare_exchange_weak(&sh->max, &m, n)) {
    }
    /* hold the slot until 3 tasks ran at once (bounded): that the pool uses
       its slots is then certain, however slow the forks are */
    TAP_WAIT_UNTIL(atomic_load(&sh->max) >= 3, 5000);
    tap_sleep_ms(2);
    atomic_fetch_add(&sh->total, 1);
    atomic_fetch_sub(&sh->now, 1);
    return 0;
}

static int task_order(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)len;
    int i = atomic_fetch_add(&sh->norder, 1);
    atomic_store(&sh->order[i], *(const int *)arg);
    return 0;
}

/* waits until `want` tasks are running at once (bounded) */
static int task_barrier(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int want = *(const int *)arg;
    int n = atomic_fetch_add(&sh->now, 1) + 1;
    int m = atomic_load(&sh->max);
    while (n > m && !atomic_compare_exchange_weak(&sh->max, &m, n)) {
    }
    atomic_fetch_add(&sh->arrived, 1);
    /* each of the first `want` tasks waits for the others */
    if (!TAP_WAIT_UNTIL(atomic_load(&sh->arrived) >= want, 5000))
        return forkpool_throw(ctx, "barrier", "only %d of %d ran at once", atomic_load(&sh->arrived), want);
    atomic_fetch_sub(&sh->now, 1);
    return 0;
}

int main(void)
{
    tap_watchdog(30);
    sh = tap_shared(sizeof *sh);

    forkpool_options o = {0};
    o.concurrency = 3;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create (concurrency 3)");
    if (!p)
        bail_out("no pool");
    forkpool_task *t[20];
    for (int i = 0; i < 20; i++)
        t[i] = forkpool_run(p, task_count, NULL, 0);
    forkpool_stats s = forkpool_get_stats(p);
    is(s.running, 3, "right after queueing 20: 3 running");
    is(s.queued, 17, "and 17 queued");
    int maxseen = 0;
    int n;
    while ((n = forkpool_poll(p, -1)) > 0) {
        s = forkpool_get_stats(p);
        if ((int)s.running > maxseen)
            maxseen = (int)s.running;
    }
    is(n, 0, "forkpool_poll loop ended with 0 left");
    is(atomic_load(&sh->total), 20, "all 20 tasks ran");
    ok(atomic_load(&sh->max) <= 3, "never more than 3 tasks at once (max %d)", atomic_load(&sh->max));
    is(atomic_load(&sh->max), 3, "the 3 slots were used (max %d)", atomic_load(&sh->max));
    ok(maxseen <= 3, "stats.running never above 3");
    s = forkpool_get_stats(p);
    is(s.succeeded, 20, "stats: 20 succeeded");
    for (int i = 0; i < 20; i++)
        forkpool_task_release(t[i]);
    forkpool_destroy(p);

    /* concurrency 1: tasks start in the order queued */
    o.concurrency = 1;
    p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create (concurrency 1)");
    if (!p)
        bail_out("no pool");
    int ids[10];
    for (int i = 0; i < 10; i++) {
        ids[i] = i;
        forkpool_task_release(forkpool_run(p, task_order, &ids[i], sizeof ids[i]));
    }
    is(forkpool_await(p), 0, "await");
    is(atomic_load(&sh->norder), 10, "10 tasks ran");
    int inorder = 1;
    for (int i = 0; i < 10; i++)
        if (atomic_load(&sh->order[i]) != i)
            inorder = 0;
    ok(inorder, "they ran in the order queued");
    forkpool_destroy(p);

    /* concurrency 0: as many as online CPUs */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    if (ncpu > 32)
        ncpu = 32; /* keep the test small; the barrier needs all of them */
    memset(sh, 0, sizeof *sh);
    o.concurrency = 0;
    p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create (concurrency 0)");
    if (!p)
        bail_out("no pool");
    int want = (int)ncpu;
    for (int i = 0; i < 2 * want; i++)
        forkpool_task_release(forkpool_run(p, task_barrier, &want, sizeof want));
    is(forkpool_await(p), 0, "concurrency 0: %d tasks could run at once (no barrier timed out)", want);
    ok(atomic_load(&sh->max) <= want, "concurrency 0: at most %d at once (max %d)", want,
       atomic_load(&sh->max));
    s = forkpool_get_stats(p);
    is(s.succeeded, (size_t)(2 * want), "all succeeded");
    forkpool_destroy(p);
    ok(tap_no_children(), "no children");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
