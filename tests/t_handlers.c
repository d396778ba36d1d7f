/* Handlers and the event loop: handlers that run new tasks (await waits for
   them), handlers added after the task finished, await/wait/poll from inside
   a handler (EDEADLK), forkpool_task_release inside its own handler and
   before the task finished. */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int ran[16];
    _Atomic int go;
};
static struct shared *sh;
static forkpool *pool;

static int task_value(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int v = *(const int *)arg;
    atomic_store(&sh->ran[v], 1);
    return forkpool_return(ctx, &v, sizeof v) == 0 ? 0 : 1;
}

static int task_fail(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    return forkpool_throw(ctx, "late", "failure");
}

/* waits for the parent's go (bounded), then returns */
static int task_wait_go(forkpool_ctx *ctx, const void *arg, size_t len)
{
    int v = *(const int *)arg;
    if (!TAP_WAIT_UNTIL(atomic_load(&sh->go), 10000))
        return forkpool_throw(ctx, "test", "no go");
    return task_value(ctx, arg, len) == 0 && v >= 0 ? 0 : 1;
}

/* ---- handlers that run new tasks */
static int child_results[8];
static int child_then_calls;
static void then_child(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)ud;
    int v = -1;
    if (len == sizeof v)
        memcpy(&v, res, sizeof v);
    child_results[child_then_calls++ % 8] = v;
    forkpool_task_release(t);
}

static int spawned;
static void then_spawn(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t; (void)res; (void)len; (void)ud;
    static int v1 = 1, v2 = 2;
    forkpool_task *a = forkpool_run(pool, task_value, &v1, sizeof v1);
    forkpool_task *b = forkpool_run(pool, task_value, &v2, sizeof v2);
    forkpool_then(a, then_child, NULL);
    forkpool_then(b, then_child, NULL);
    spawned += (a != NULL) + (b != NULL);
}

/* ---- EDEADLK */
struct deadlk {
    int calls;
    int await_rc, await_errno;
    int wait_rc, wait_errno;
    int wait_other_rc, wait_other_errno;
    int poll_rc, poll_errno;
    forkpool_task *other;
};
static void then_reenter(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)res; (void)len;
    struct deadlk *d = ud;
    d->calls++;
    errno = 0;
    d->await_rc = forkpool_await(pool);
    d->await_errno = errno;
    errno = 0;
    d->wait_rc = forkpool_wait(t);
    d->wait_errno = errno;
    errno = 0;
    d->wait_other_rc = forkpool_wait(d->other);
    d->wait_other_errno = errno;
    errno = 0;
    d->poll_rc = forkpool_poll(pool, 0);
    d->poll_errno = errno;
}
static void catch_reenter(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)e;
    then_reenter(t, NULL, 0, ud);
}

/* ---- counters */
struct rec {
    int then_calls, catch_calls;
    int seq[8];
    int n;
    int value;
};
static int seqno;
static void on_then(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t;
    struct rec *r = ud;
    r->then_calls++;
    r->seq[r->n++ % 8] = ++seqno;
    if (len == sizeof r->value)
        memcpy(&r->value, res, sizeof r->value);
}
static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t; (void)e;
    struct rec *r = ud;
    r->catch_calls++;
    r->seq[r->n++ % 8] = ++seqno;
}
static void then_release_self(forkpool_task *t, const void *res, size_t len, void *ud)
{
    on_then(t, res, len, ud);
    forkpool_task_release(t);
}

int main(void)
{
    tap_watchdog(30);
    sh = tap_shared(sizeof *sh);
    forkpool_options o = {0};
    o.concurrency = 2;
    pool = forkpool_create(&o);
    ok(pool != NULL, "forkpool_create");
    if (!pool)
        bail_out("no pool");

    /* a then handler runs two new tasks; one await waits for all */
    int v0 = 0;
    forkpool_task *t0 = forkpool_then(forkpool_run(pool, task_value, &v0, sizeof v0), then_spawn, NULL);
    is(forkpool_await(pool), 0, "await returned");
    is(spawned, 2, "the handler queued two tasks");
    is(child_then_calls, 2, "await also waited for the tasks the handler queued");
    ok((child_results[0] == 1 && child_results[1] == 2) || (child_results[0] == 2 && child_results[1] == 1),
       "their results arrived (%d, %d)", child_results[0], child_results[1]);
    forkpool_stats s = forkpool_get_stats(pool);
    is(s.succeeded, 3, "stats: 3 succeeded");
    is(s.queued + s.running, 0, "stats: nothing left");
    forkpool_task_release(t0);

    /* handlers added after the task finished run at the next poll/await */
    int v3 = 3;
    struct rec late = {0}, late2 = {0};
    forkpool_task *t3 = forkpool_run(pool, task_value, &v3, sizeof v3);
    is(forkpool_wait(t3), 0, "task finished with no handler");
    forkpool_then(t3, on_then, &late);
    is(late.then_calls, 0, "then added after finish did not run inside forkpool_then");
    is(forkpool_poll(pool, 0), 0, "forkpool_poll: nothing queued or running");
    is(late.then_calls, 1, "then added after finish ran at the next forkpool_poll");
    is(late.value, 3, "with the task's result");
    forkpool_then(t3, on_then, &late2);
    is(forkpool_await(pool), 0, "await");
    is(late2.then_calls, 1, "a second late then ran at the next await");
    is(late.then_calls, 1, "the first one did not run again");
    forkpool_task_release(t3);

    struct rec latec = {0};
    forkpool_task *tf = forkpool_run(pool, task_fail, NULL, 0);
    is(forkpool_await(pool), 1, "await: one failure nobody took");
    forkpool_catch(tf, on_catch, &latec);
    is(latec.catch_calls, 0, "catch added after the failure did not run inside forkpool_catch");
    is(forkpool_await(pool), 0, "next await: the failure is not counted again");
    is(latec.catch_calls, 1, "the late catch ran during that await");
    forkpool_task_release(tf);

    /* await / wait / poll from inside a handler: EDEADLK */
    int v4 = 4, v5 = 5;
    struct deadlk d = {0}, dc = {0};
    atomic_store(&sh->go, 0);
    forkpool_task *other = forkpool_run(pool, task_wait_go, &v5, sizeof v5);
    d.other = other;
    dc.other = other;
    forkpool_task *t4 = forkpool_then(forkpool_run(pool, task_value, &v4, sizeof v4), then_reenter, &d);
    is(forkpool_wait(t4), 0, "task whose then handler re-enters the loop succeeded");
    is(d.calls, 1, "the handler ran");
    ok(d.await_rc == -1 && d.await_errno == EDEADLK, "forkpool_await in a handler: -1/EDEADLK (%d/%d)",
       d.await_rc, d.await_errno);
    ok(d.wait_rc == -1 && d.wait_errno == EDEADLK, "forkpool_wait(self) in a handler: -1/EDEADLK (%d/%d)",
       d.wait_rc, d.wait_errno);
    ok(d.wait_other_rc == -1 && d.wait_other_errno == EDEADLK,
       "forkpool_wait(other task) in a handler: -1/EDEADLK (%d/%d)", d.wait_other_rc, d.wait_other_errno);
    ok(d.poll_rc == -1 && d.poll_errno == EDEADLK, "forkpool_poll in a handler: -1/EDEADLK (%d/%d)",
       d.poll_rc, d.poll_errno);
    forkpool_task *t4c = forkpool_catch(forkpool_run(pool, task_fail, NULL, 0), catch_reenter, &dc);
    is(forkpool_wait(t4c), 1, "failing task");
    ok(dc.calls == 1 && dc.await_errno == EDEADLK && dc.wait_errno == EDEADLK && dc.poll_errno == EDEADLK,
       "await/wait/poll from a catch handler: EDEADLK");
    atomic_store(&sh->go, 1);
    is(forkpool_wait(other), 0, "the other task still finishes normally");
    is(forkpool_await(pool), 0, "the loop still works after the refused calls");
    forkpool_task_release(t4);
    forkpool_task_release(t4c);
    forkpool_task_release(other);

    /* release inside its own then handler; the later handlers still run */
    int v6 = 6;
    struct rec r6a = {0}, r6b = {0}, r6c = {0};
    forkpool_task *t6 = forkpool_run(pool, task_value, &v6, sizeof v6);
    forkpool_then(t6, then_release_self, &r6a);
    forkpool_then(t6, on_then, &r6b);
    forkpool_catch(t6, on_catch, &r6c);
    is(forkpool_await(pool), 0, "await with a handler releasing its own task");
    is(r6a.then_calls, 1, "the releasing handler ran");
    is(r6b.then_calls, 1, "the handler after it still ran");
    is(r6b.value, 6, "with the result");
    ok(r6a.seq[0] < r6b.seq[0], "in order");
    is(r6c.catch_calls, 0, "catch did not run");

    /* release before the task finished: it still runs and its handlers run */
    int v7 = 7, v8 = 8;
    struct rec r7 = {0}, r8 = {0};
    atomic_store(&sh->go, 0);
    forkpool_task *t7 = forkpool_run(pool, task_wait_go, &v7, sizeof v7);
    forkpool_then(t7, on_then, &r7);
    forkpool_task_release(t7);
    forkpool_task *t8 = forkpool_run(pool, task_fail, &v8, 0);
    forkpool_catch(t8, on_catch, &r8);
    forkpool_task_release(t8);
    atomic_store(&sh->go, 1);
    is(forkpool_await(pool), 0, "await after releasing unfinished tasks");
    is(atomic_load(&sh->ran[7]), 1, "the released task ran");
    is(r7.then_calls, 1, "its then handler ran");
    is(r7.value, 7, "with its result");
    is(r8.catch_calls, 1, "a released failing task's catch ran");

    /* a released task with no handler that fails still counts */
    forkpool_task_release(forkpool_run(pool, task_fail, NULL, 0));
    is(forkpool_await(pool), 1, "a released task's unhandled failure is counted by await");

    s = forkpool_get_stats(pool);
    is(s.succeeded + s.failed + s.timed_out + s.cancelled, 12, "stats: 12 finished");
    is(s.failed, 4, "stats: 4 failed");

    forkpool_destroy(pool);
    ok(tap_no_children(), "no children after destroy");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
