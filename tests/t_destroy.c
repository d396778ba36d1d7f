/* forkpool_destroy: kills running tasks, reaps every child, closes every fd
   (pidfd and fallback modes), frees unreleased tasks; no handler runs; also
   when called from inside a handler. */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int started;
    _Atomic int queued_ran;
};
static struct shared *sh;

static int task_sleep_forever(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    atomic_fetch_add(&sh->started, 1);
    tap_pause_forever();
}

static int task_stubborn(forkpool_ctx *ctx, const void *arg, size_t len)
{
    signal(SIGTERM, SIG_IGN);
    return task_sleep_forever(ctx, arg, len);
}

static int task_quick(forkpool_ctx *ctx, const void *arg, size_t len)
{
    return forkpool_return(ctx, arg, len) == 0 ? 0 : 1;
}

static int task_queued(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    atomic_store(&sh->queued_ran, 1);
    return 0;
}

static int handler_calls;
static void on_any_then(forkpool_task *t, const void *r, size_t len, void *ud)
{
    (void)t; (void)r; (void)len; (void)ud;
    handler_calls++;
}
static void on_any_message(forkpool_task *t, const void *m, size_t len, void *ud)
{
    (void)t; (void)m; (void)len; (void)ud;
    handler_calls++;
}
static void on_any_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t; (void)e; (void)ud;
    handler_calls++;
}

/* sends a message, then sleeps: its slot stays taken until destroy */
static int task_send_and_sleep(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    forkpool_send(ctx, "destroy", 7);
    tap_pause_forever();
}

static int destroy_calls;
static void message_destroy(forkpool_task *t, const void *m, size_t len, void *ud)
{
    (void)t; (void)m; (void)len;
    destroy_calls++;
    forkpool_destroy((forkpool *)ud);
}

static void scenario(const char *mode, int no_pidfd)
{
    if (no_pidfd)
        setenv("FORKPOOL_NO_PIDFD", "1", 1);
    else
        unsetenv("FORKPOOL_NO_PIDFD");
    memset(sh, 0, sizeof *sh);
    handler_calls = 0;
    int fds0 = tap_fd_count();

    forkpool_options o = {0};
    o.concurrency = 3;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "%s: forkpool_create", mode);
    if (!p)
        bail_out("no pool");
    ok(tap_fd_count() > fds0, "%s: the pool holds fds", mode);

    /* one finished, unreleased task */
    forkpool_task *done = forkpool_run(p, task_quick, "r", 1);
    is(forkpool_wait(done), 0, "%s: a finished task", mode);
    for (int i = 0; i < 3; i++) {
        forkpool_task *t = forkpool_run(p, i == 2 ? task_stubborn : task_sleep_forever, NULL, 0);
        forkpool_catch(forkpool_then(t, on_any_then, NULL), on_any_catch, NULL);
        if (i == 0)
            forkpool_task_release(t); /* released and running */
    }
    /* two queued tasks: one released, one not */
    forkpool_task_release(forkpool_run(p, task_queued, NULL, 0));
    forkpool_run(p, task_queued, NULL, 0);
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->started) >= 3), 5000),
       "%s: 3 tasks sleeping forever", mode);
    forkpool_then(done, on_any_then, NULL); /* due, but destroy runs no handler */
    forkpool_stats s = forkpool_get_stats(p);
    is(s.running, 3, "%s: 3 running", mode);
    is(s.queued, 2, "%s: 2 queued", mode);
    forkpool_destroy(p);
    ok(tap_no_children(), "%s: no children (running or zombie) after destroy", mode);
    is(tap_fd_count(), fds0, "%s: fd count back to what it was before create", mode);
    is(handler_calls, 0, "%s: no handler ran during destroy", mode);
    is(atomic_load(&sh->queued_ran), 0, "%s: the queued tasks never ran", mode);
}

int main(void)
{
    tap_watchdog(30);
    sh = tap_shared(sizeof *sh);
    scenario("pidfd", 0);
    scenario("FORKPOOL_NO_PIDFD=1", 1);
    unsetenv("FORKPOOL_NO_PIDFD");

    /* destroy right after run: children just forked */
    int fds0 = tap_fd_count();
    forkpool *p = forkpool_create(NULL);
    ok(p != NULL, "forkpool_create");
    for (int i = 0; i < 4; i++)
        forkpool_run(p, task_sleep_forever, NULL, 0);
    forkpool_destroy(p);
    ok(tap_no_children(), "destroy right after run: no children");
    is(tap_fd_count(), fds0, "destroy right after run: no fds left");

    /* destroy from inside a handler */
    memset(sh, 0, sizeof *sh);
    handler_calls = 0;
    forkpool_options o = {0};
    o.concurrency = 3;
    p = forkpool_create(&o);
    ok(p != NULL, "forkpool_create");
    if (!p)
        bail_out("no pool");
    for (int i = 0; i < 2; i++)
        forkpool_catch(forkpool_run(p, task_sleep_forever, NULL, 0), on_any_catch, NULL);
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->started) >= 2), 5000), "2 tasks sleeping");
    /* the third slot: its on_message handler destroys the pool while all
       three slots are taken, so the 4th task is still queued then */
    forkpool_task *q = forkpool_run(p, task_send_and_sleep, NULL, 0);
    forkpool_on_message(q, message_destroy, p);
    forkpool_on_message(q, on_any_message, NULL);
    forkpool_catch(q, on_any_catch, NULL);
    forkpool_task *q4 = forkpool_run(p, task_queued, NULL, 0);
    forkpool_catch(q4, on_any_catch, NULL);
    is(forkpool_task_state(q4), FORKPOOL_QUEUED, "4th task queued (concurrency 3)");
    errno = 0;
    int rc = forkpool_await(p); /* p is freed when this returns */
    int rc_errno = errno;
    diag("await returned %d (errno %d) after destroy from a handler", rc, rc_errno);
    is(destroy_calls, 1, "the handler that destroyed the pool ran");
    ok(1, "await returned after destroy from inside a handler");
    is(handler_calls, 0, "no other handler ran after destroy (not the next on_message, nor the catches)");
    is(atomic_load(&sh->queued_ran), 0, "the queued task never ran");
    ok(tap_no_children(), "no children after await returned");
    is(tap_fd_count(), fds0, "no fds left");

    forkpool_destroy(NULL);
    ok(1, "forkpool_destroy(NULL) is a no-op");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
