/* forkpool_get_stats adds up (succeeded + failed + timed_out + cancelled ==
   finished; queued/running while busy) and forkpool_await's return value
   counts the failures no handler took since the previous await. */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int go;
    _Atomic int started;
};
static struct shared *sh;

static int task_ok(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    return 0;
}
static int task_fail(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    return forkpool_throw(ctx, "x", "fail");
}
static int task_crash(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    abort();
}
static int task_wait_go(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    atomic_fetch_add(&sh->started, 1);
    return TAP_WAIT_UNTIL(atomic_load(&sh->go), 10000) ? 0 : forkpool_throw(ctx, "test", "no go");
}
static int task_sleep_forever(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    atomic_fetch_add(&sh->started, 1);
    tap_pause_forever();
}

static int caught;
static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t; (void)e; (void)ud;
    caught++;
}
static void on_timeout(forkpool_task *t, void *ud)
{
    (void)t; (void)ud;
    caught++;
}

static size_t finished(forkpool_stats s) { return s.succeeded + s.failed + s.timed_out + s.cancelled; }

int main(void)
{
    tap_watchdog(30);
    tap_no_core_dumps();
    sh = tap_shared(sizeof *sh);
    forkpool_options o = {0};
    o.concurrency = 2;
    o.kill_grace_ms = 50;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create");
    if (!p)
        bail_out("no pool");
    forkpool_stats s = forkpool_get_stats(p);
    is(finished(s) + s.queued + s.running, 0, "a new pool: all zero");

    /* queued / running while busy */
    for (int i = 0; i < 5; i++)
        forkpool_task_release(forkpool_run(p, task_wait_go, NULL, 0));
    s = forkpool_get_stats(p);
    is(s.running, 2, "2 running (concurrency 2)");
    is(s.queued, 3, "3 queued");
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->started) >= 2), 5000), "2 started");
    s = forkpool_get_stats(p);
    is(s.running + s.queued, 5, "still 5 queued or running");
    atomic_store(&sh->go, 1);
    is(forkpool_await(p), 0, "await: 0 unhandled failures");
    s = forkpool_get_stats(p);
    is(s.succeeded, 5, "5 succeeded");
    is(s.queued + s.running, 0, "nothing queued or running");

    /* 3 uncaught failures -> await returns 3; next await -> 0 */
    forkpool_task_release(forkpool_run(p, task_fail, NULL, 0));
    forkpool_task_release(forkpool_run(p, task_crash, NULL, 0));
    forkpool_task *kept = forkpool_run(p, task_fail, NULL, 0); /* unreleased, no handler */
    forkpool_task_release(forkpool_run(p, task_ok, NULL, 0));
    /* caught failures are not counted */
    forkpool_task_release(forkpool_catch(forkpool_run(p, task_fail, NULL, 0), on_catch, NULL));
    is(forkpool_await(p), 3, "await: 3 failures no handler took");
    is(caught, 1, "the caught one was caught");
    is(forkpool_await(p), 0, "next await with no new failure: 0");
    forkpool_catch(kept, on_catch, NULL); /* late catch: runs, but was already counted */
    is(forkpool_await(p), 0, "a late catch on a counted failure: still 0");
    is(caught, 2, "the late catch ran");
    forkpool_task_release(kept);

    /* a timeout: taken by a timeout handler / by nobody; cancels */
    forkpool_task *to1 = forkpool_run(p, task_sleep_forever, NULL, 0);
    forkpool_set_timeout(to1, 100);
    forkpool_timeout(to1, on_timeout, NULL);
    forkpool_task_release(to1);
    forkpool_task *to2 = forkpool_run(p, task_sleep_forever, NULL, 0);
    forkpool_set_timeout(to2, 100);
    forkpool_task_release(to2);
    is(forkpool_await(p), 1, "await: a timeout with no handler counts, one with a timeout handler does not");
    atomic_store(&sh->started, 0);
    forkpool_task *c1 = forkpool_run(p, task_sleep_forever, NULL, 0);
    forkpool_task *c2 = forkpool_run(p, task_sleep_forever, NULL, 0);
    forkpool_task *c3 = forkpool_run(p, task_ok, NULL, 0); /* queued */
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->started) >= 2), 5000), "2 sleepers started");
    forkpool_cancel(c3);
    forkpool_cancel(c1);
    forkpool_catch(c2, on_catch, NULL);
    forkpool_cancel(c2);
    is(forkpool_await(p), 0, "await: cancels without a handler are not counted");
    forkpool_task_release(c1);
    forkpool_task_release(c2);
    forkpool_task_release(c3);

    s = forkpool_get_stats(p);
    is(s.succeeded, 6, "succeeded 6");
    is(s.failed, 4, "failed 4 (thrown, crashed)");
    is(s.timed_out, 2, "timed_out 2");
    is(s.cancelled, 3, "cancelled 3");
    is(finished(s), 15, "succeeded + failed + timed_out + cancelled == 15 tasks finished");
    is(s.queued + s.running, 0, "nothing queued or running");
    forkpool_destroy(p);
    ok(tap_no_children(), "no children");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
