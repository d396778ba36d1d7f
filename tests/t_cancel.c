/* forkpool_cancel (queued: never starts; running: killed; finished or already
   cancelled: EALREADY) and forkpool_stop from inside a handler. */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int ran[16];
    _Atomic int started;
};
static struct shared *sh;

static int task_mark(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int slot = *(const int *)arg;
    atomic_store(&sh->ran[slot], 1);
    return forkpool_return(ctx, "ok", 2) == 0 ? 0 : 1;
}

static int task_sleep_forever(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)len;
    int slot = *(const int *)arg;
    atomic_store(&sh->ran[slot], 1);
    atomic_fetch_add(&sh->started, 1);
    tap_pause_forever();
}

static int task_stubborn(forkpool_ctx *ctx, const void *arg, size_t len)
{
    signal(SIGTERM, SIG_IGN);
    return task_sleep_forever(ctx, arg, len);
}

/* Once `want` sleeping tasks have started, sends a message (whose handler
   stops the pool) and sleeps: no slot frees up before the stop. */
static int task_signal_started(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int want = *(const int *)arg;
    if (!TAP_WAIT_UNTIL(atomic_load(&sh->started) >= want, 5000))
        return forkpool_throw(ctx, "test", "only %d tasks started", atomic_load(&sh->started));
    if (forkpool_send(ctx, "stop", 4) != 0)
        return forkpool_throw(ctx, "test", "forkpool_send: %d", errno);
    tap_pause_forever();
}

struct rec {
    int catch_calls, then_calls;
    int kind;
};
static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    struct rec *r = ud;
    r->catch_calls++;
    r->kind = (int)e->kind;
}
static void on_then(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)t; (void)res; (void)len;
    ((struct rec *)ud)->then_calls++;
}

static int stop_calls;
static void message_stop(forkpool_task *t, const void *msg, size_t len, void *ud)
{
    (void)t; (void)msg; (void)len;
    stop_calls++;
    forkpool_stop((forkpool *)ud);
}

int main(void)
{
    tap_watchdog(30);
    sh = tap_shared(sizeof *sh);
    forkpool_options o = {0};
    o.concurrency = 1;
    o.kill_grace_ms = 100;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create (concurrency 1)");
    if (!p)
        bail_out("no pool");

    int s0 = 0, s1 = 1, s2 = 2, s3 = 3;
    struct rec r0 = {0}, r1 = {0}, r2 = {0};
    forkpool_task *running = forkpool_catch(forkpool_run(p, task_sleep_forever, &s0, sizeof s0), on_catch, &r0);
    forkpool_task *queued = forkpool_run(p, task_mark, &s1, sizeof s1);
    forkpool_then(queued, on_then, &r1);
    forkpool_catch(queued, on_catch, &r1);
    forkpool_task *after = forkpool_then(forkpool_run(p, task_mark, &s2, sizeof s2), on_then, &r2);

    int st = TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->ran[0])), 5000);
    ok(st, "first task is running");
    is(forkpool_task_state(queued), FORKPOOL_QUEUED, "second task is queued (concurrency 1)");
    is(forkpool_task_pid(queued), 0, "a queued task has no pid");

    is(forkpool_cancel(queued), 0, "cancel a queued task: 0");
    errno = 0;
    is(forkpool_cancel(queued), -1, "cancel it again: -1");
    is(errno, EALREADY, "cancel it again: EALREADY");

    /* Its wait returns while the first task runs on (it used to block
       until some other event: the loop waited before it looked again). */
    is(forkpool_wait(queued), 1, "forkpool_wait on it returns at once: failed");
    is(r1.catch_calls, 1, "and its catch ran");
    is(forkpool_task_state(running), FORKPOOL_RUNNING, "while the first task still runs");

    pid_t rpid = forkpool_task_pid(running);
    ok(rpid > 0, "running task has a pid");
    is(forkpool_cancel(running), 0, "cancel a running task: 0");
    errno = 0;
    ok(forkpool_cancel(running) == -1 && errno == EALREADY, "cancel a running task twice: EALREADY");
    is(forkpool_wait(running), 1, "forkpool_wait: the cancelled running task failed");
    is(r0.kind, FORKPOOL_ERR_CANCELLED, "running task: FORKPOOL_ERR_CANCELLED");
    ok(tap_pid_dead(rpid), "running task's process is gone");
    const forkpool_error *e = forkpool_task_error(running);
    ok(e && e->type && strcmp(e->type, "forkpool.cancelled") == 0, "type forkpool.cancelled");
    ok(e && e->message && e->message[0], "message not empty");

    is(forkpool_await(p), 0, "await: no unhandled failures");
    is(r1.catch_calls, 1, "queued task's catch ran");
    is(r1.kind, FORKPOOL_ERR_CANCELLED, "queued task: FORKPOOL_ERR_CANCELLED");
    is(r1.then_calls, 0, "queued task's then did not run");
    is(atomic_load(&sh->ran[1]), 0, "the cancelled queued task never ran");
    is(forkpool_task_pid(queued), 0, "and never got a pid");
    is(forkpool_task_state(queued), FORKPOOL_FAILED, "its state is FAILED");
    is(r2.then_calls, 1, "the task queued after it still ran");
    is(atomic_load(&sh->ran[2]), 1, "(shared memory agrees)");

    errno = 0;
    ok(forkpool_cancel(after) == -1 && errno == EALREADY, "cancel a succeeded task: -1/EALREADY");
    errno = 0;
    ok(forkpool_cancel(running) == -1 && errno == EALREADY, "cancel a cancelled, finished task: -1/EALREADY");

    /* a running task that ignores SIGTERM is killed after the grace */
    struct rec r3 = {0};
    forkpool_task *stub = forkpool_catch(forkpool_run(p, task_stubborn, &s3, sizeof s3), on_catch, &r3);
    st = TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->ran[3])), 5000);
    ok(st, "SIGTERM-ignoring task is running");
    is(forkpool_cancel(stub), 0, "cancel it");
    is(forkpool_wait(stub), 1, "it ended");
    is(r3.kind, FORKPOOL_ERR_CANCELLED, "FORKPOOL_ERR_CANCELLED");

    forkpool_stats s = forkpool_get_stats(p);
    is(s.cancelled, 3, "stats: 3 cancelled");
    is(s.succeeded, 1, "stats: 1 succeeded");
    is(s.failed + s.timed_out, 0, "stats: no other failure");
    forkpool_task_release(running);
    forkpool_task_release(queued);
    forkpool_task_release(after);
    forkpool_task_release(stub);
    forkpool_destroy(p);
    ok(tap_no_children(), "no children after destroy");

    /* forkpool_stop from inside a handler (on_message, while the task that
       sent it still runs, so nothing queued can start before the stop) */
    memset(sh, 0, sizeof *sh);
    o.concurrency = 3;
    p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create (concurrency 3)");
    if (!p)
        bail_out("no pool");
    int two = 2, s4 = 4, s5 = 5, s6 = 6, s7 = 7;
    struct rec rq = {0};
    forkpool_task *first = forkpool_run(p, task_signal_started, &two, sizeof two);
    forkpool_on_message(first, message_stop, p);
    forkpool_task *b = forkpool_run(p, task_sleep_forever, &s4, sizeof s4);
    forkpool_task *c = forkpool_run(p, task_sleep_forever, &s5, sizeof s5);
    forkpool_task *d = forkpool_run(p, task_mark, &s6, sizeof s6);
    forkpool_task *q = forkpool_run(p, task_mark, &s7, sizeof s7);
    forkpool_catch(q, on_catch, &rq);
    is(forkpool_task_state(d), FORKPOOL_QUEUED, "4th task is queued (concurrency 3)");
    /* only q has a catch handler */
    is(forkpool_await(p), 0, "await after stop: cancels are not failures, even with no handler");
    is(stop_calls, 1, "the handler calling forkpool_stop ran once");
    const forkpool_error *ea = forkpool_task_error(first), *eb = forkpool_task_error(b),
                         *ec = forkpool_task_error(c), *ed = forkpool_task_error(d);
    ok(ea && ea->kind == FORKPOOL_ERR_CANCELLED, "the task whose handler stopped the pool: cancelled");
    ok(eb && eb->kind == FORKPOOL_ERR_CANCELLED, "running task b cancelled by stop");
    ok(ec && ec->kind == FORKPOOL_ERR_CANCELLED, "running task c cancelled by stop");
    ok(ed && ed->kind == FORKPOOL_ERR_CANCELLED, "queued task d cancelled by stop");
    is(rq.catch_calls, 1, "queued task q: catch ran");
    is(rq.kind, FORKPOOL_ERR_CANCELLED, "queued task q cancelled by stop");
    is(atomic_load(&sh->ran[6]) + atomic_load(&sh->ran[7]), 0, "the queued tasks never ran");
    ok(tap_pid_dead(forkpool_task_pid(first)) && tap_pid_dead(forkpool_task_pid(b)) &&
           tap_pid_dead(forkpool_task_pid(c)),
       "the running tasks' processes are gone");
    s = forkpool_get_stats(p);
    is(s.succeeded, 0, "stats: 0 succeeded");
    is(s.cancelled, 5, "stats: 5 cancelled");
    is(s.queued + s.running, 0, "stats: nothing queued or running");
    is(s.succeeded + s.failed + s.timed_out + s.cancelled, 5, "stats: 5 finished");

    /* the pool still works after stop */
    int s8 = 8;
    struct rec r8 = {0};
    forkpool_task *later = forkpool_then(forkpool_run(p, task_mark, &s8, sizeof s8), on_then, &r8);
    is(forkpool_wait(later), 0, "a task run after forkpool_stop succeeds");
    is(r8.then_calls, 1, "its then ran");

    forkpool_stop(NULL);
    ok(1, "forkpool_stop(NULL) is a no-op");
    forkpool_task *all[] = {first, b, c, d, q, later};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        forkpool_task_release(all[i]);
    forkpool_destroy(p);
    ok(tap_no_children(), "no children after destroy");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
