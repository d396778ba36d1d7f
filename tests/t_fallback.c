/* Exit detection, both ways: with FORKPOOL_NO_PIDFD=1 (the waitid fallback;
   no pidfd may be open while tasks run) and without it (a pidfd is used
   whenever pidfd_open works in this process). Each mode runs then / catch /
   crash / timeout / cancel, and a task whose grandchild keeps the task's
   channel open after the task finished. */
#include "forkpool.h"
#include "tap.h"

#define PIDFD_LINK "anon_inode:[pidfd]"

struct shared {
    _Atomic int started;
    _Atomic int release_grandchild;
    _Atomic int gpid;
};
static struct shared *sh;

static int task_result(forkpool_ctx *ctx, const void *arg, size_t len)
{
    return forkpool_return(ctx, arg, len) == 0 ? 0 : 1;
}

static int task_throw(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    return forkpool_throw(ctx, "fb", "thrown %d", 1);
}

static int task_abort(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    abort();
}

static int task_exit9(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    _exit(9);
}

static int task_sleep_forever(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)arg; (void)len;
    atomic_fetch_add(&sh->started, 1);
    tap_pause_forever();
}

/* Leaves a grandchild that inherited every fd of the task (its channel
   included) and outlives the task until the parent lets it go. */
static int task_leave_grandchild(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    pid_t g = fork();
    if (g == 0) {
        /* not holding the TAP pipe: if the library wrongly waits for the
           channel to close, the watchdog must fire, not prove hang */
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        atomic_store(&sh->gpid, (int)getpid());
        /* outlives the watchdog unless released */
        TAP_WAIT_UNTIL(atomic_load(&sh->release_grandchild), 60000);
        _exit(0);
    }
    if (g < 0)
        return forkpool_throw(ctx, "fork", "fork: %d", errno);
    TAP_WAIT_UNTIL(atomic_load(&sh->gpid) != 0, 5000);
    return forkpool_return(ctx, "left", 4) == 0 ? 0 : 1;
}

struct rec {
    int then_calls, catch_calls, timeout_calls;
    int kind, code;
    char res[32];
    size_t len;
};

static void on_then(forkpool_task *t, const void *r, size_t len, void *ud)
{
    (void)t;
    struct rec *x = ud;
    x->then_calls++;
    x->len = len;
    memcpy(x->res, r, len < sizeof x->res ? len : sizeof x->res);
}
static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    struct rec *x = ud;
    x->catch_calls++;
    x->kind = (int)e->kind;
    x->code = e->code;
}
static void on_timeout(forkpool_task *t, void *ud)
{
    (void)t;
    ((struct rec *)ud)->timeout_calls++;
}

static void suite(const char *mode, int no_pidfd)
{
    if (no_pidfd)
        setenv("FORKPOOL_NO_PIDFD", "1", 1);
    else
        unsetenv("FORKPOOL_NO_PIDFD");
    int expect_pidfd = !no_pidfd && tap_have_pidfd();
    diag("%s: pidfd expected: %s", mode, expect_pidfd ? "yes" : "no");
    memset(sh, 0, sizeof *sh);

    int fds_before = tap_fd_count();
    int pidfds_before = tap_count_fds_like(PIDFD_LINK);
    forkpool_options o = {0};
    o.concurrency = 8;
    o.kill_grace_ms = 50;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "%s: forkpool_create", mode);
    if (!p)
        bail_out("no pool");
    if (no_pidfd)
        unsetenv("FORKPOOL_NO_PIDFD"); /* read at create only */

    struct rec r[7];
    memset(r, 0, sizeof r);
    forkpool_task *t[7];
    t[0] = forkpool_catch(forkpool_then(forkpool_run(p, task_result, "abc\0d", 5), on_then, &r[0]),
                          on_catch, &r[0]);
    t[1] = forkpool_catch(forkpool_then(forkpool_run(p, task_throw, NULL, 0), on_then, &r[1]),
                          on_catch, &r[1]);
    t[2] = forkpool_catch(forkpool_run(p, task_abort, NULL, 0), on_catch, &r[2]);
    t[3] = forkpool_catch(forkpool_run(p, task_exit9, NULL, 0), on_catch, &r[3]);
    t[4] = forkpool_run(p, task_sleep_forever, NULL, 0);
    forkpool_set_timeout(t[4], 200);
    forkpool_timeout(t[4], on_timeout, &r[4]);
    forkpool_catch(t[4], on_catch, &r[4]);
    t[5] = forkpool_catch(forkpool_run(p, task_sleep_forever, NULL, 0), on_catch, &r[5]);
    t[6] = forkpool_catch(forkpool_run(p, task_sleep_forever, NULL, 0), on_catch, &r[6]);

    int both = TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->started) >= 2), 5000);
    ok(both, "%s: sleeping tasks are running", mode);
    int pidfds = tap_count_fds_like(PIDFD_LINK) - pidfds_before;
    if (expect_pidfd)
        ok(pidfds >= 1, "%s: pidfds are open while tasks run (%d)", mode, pidfds);
    else
        is(pidfds, 0, "%s: no pidfd is open while tasks run", mode);

    int timed = TAP_WAIT_UNTIL((forkpool_poll(p, 5), forkpool_task_state(t[4]) == FORKPOOL_FAILED),
                               5000);
    ok(timed, "%s: the task with a 200 ms limit finished", mode);
    is(forkpool_cancel(t[5]), 0, "%s: cancel a running task", mode);
    is(forkpool_wait(t[5]), 1, "%s: cancelled task finished", mode);
    forkpool_stop(p); /* cancels t[6] */
    int unhandled = forkpool_await(p);
    is(unhandled, 0, "%s: await: every failure was handled", mode);

    is(r[0].then_calls, 1, "%s: then ran", mode);
    is_mem(r[0].res, r[0].len, "abc\0d", 5, "%s: result bytes", mode);
    is(r[1].catch_calls, 1, "%s: thrown: catch ran", mode);
    is(r[1].kind, FORKPOOL_ERR_THROWN, "%s: thrown: kind THROWN", mode);
    is(r[2].kind, FORKPOOL_ERR_SIGNALED, "%s: abort: SIGNALED", mode);
    is(r[2].code, SIGABRT, "%s: abort: SIGABRT", mode);
    is(r[3].kind, FORKPOOL_ERR_EXITED, "%s: _exit(9): EXITED", mode);
    is(r[3].code, 9, "%s: _exit(9): code 9", mode);
    is(r[4].timeout_calls, 1, "%s: timeout handler ran", mode);
    is(r[4].catch_calls, 0, "%s: catch did not run for the timed-out task", mode);
    is(r[5].kind, FORKPOOL_ERR_CANCELLED, "%s: cancel: CANCELLED", mode);
    is(r[6].kind, FORKPOOL_ERR_CANCELLED, "%s: stop: CANCELLED", mode);
    for (int i = 0; i < 7; i++)
        forkpool_task_release(t[i]);

    /* timeout on its own (not raced by stop) */
    struct rec rt = {0};
    forkpool_task *tt = forkpool_run(p, task_sleep_forever, NULL, 0);
    forkpool_set_timeout(tt, 100);
    forkpool_catch(tt, on_catch, &rt);
    is(forkpool_wait(tt), 1, "%s: timeout: task failed", mode);
    is(rt.kind, FORKPOOL_ERR_TIMEOUT, "%s: timeout: TIMEOUT", mode);
    forkpool_task_release(tt);

    /* the task exits while a grandchild still holds its channel open */
    struct rec rg = {0};
    forkpool_task *tg = forkpool_run(p, task_leave_grandchild, NULL, 0);
    forkpool_then(tg, on_then, &rg);
    forkpool_catch(tg, on_catch, &rg);
    is(forkpool_wait(tg), 0,
       "%s: a task that exits while its grandchild holds its channel open finishes", mode);
    pid_t g = (pid_t)atomic_load(&sh->gpid);
    ok(g > 0, "%s: the grandchild had started", mode);
    is_mem(rg.res, rg.len, "left", 4, "%s: its result", mode);
    atomic_store(&sh->release_grandchild, 1);
    forkpool_task_release(tg);

    forkpool_destroy(p);
    ok(tap_no_children(), "%s: no children after destroy", mode);
    is(tap_fd_count(), fds_before, "%s: no fds left after destroy", mode);
    if (g > 0)
        tap_wait_pid_dead(g, 5000);
}

int main(void)
{
    tap_watchdog(40);
    tap_no_core_dumps();
    sh = tap_shared(sizeof *sh);
    suite("FORKPOOL_NO_PIDFD=1", 1);
    suite("default", 0);
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
