/* Edges found in review: a task that ended in time is not a timeout however
   late the parent looks; limits too large to represent never fall due;
   INLINE tasks may use pools of their own and cannot be cancelled once
   running; INLINE honours max_output for messages; messages nobody takes
   are bounded. */
#include <limits.h>

#include "forkpool.h"
#include "tap.h"

static int task_quick(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_return(ctx, "quick", 5);
}

static int task_forever(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    tap_pause_forever();
}

static void late_look(int fallback)
{
    const char *m = fallback ? "fallback" : "pidfd";
    if (fallback)
        setenv("FORKPOOL_NO_PIDFD", "1", 1);
    else
        unsetenv("FORKPOOL_NO_PIDFD");
    forkpool_options o = {0};
    o.timeout_ms = 100;
    forkpool *pool = forkpool_create(&o);
    forkpool_task *t = forkpool_run(pool, task_quick, NULL, 0);
    tap_sleep_ms(400); /* the deadline passes while nobody polls */
    is(forkpool_wait(t), 0, "%s: a task that ended in time succeeds, looked at late", m);
    forkpool_destroy(pool);
}

static void huge_limits(void)
{
    forkpool_options o = {0};
    o.kill_grace_ms = LONG_MAX;
    forkpool *pool = forkpool_create(&o);
    forkpool_task *t = forkpool_set_timeout(forkpool_run(pool, task_quick, NULL, 0), LONG_MAX);
    is(forkpool_wait(t), 0, "timeout LONG_MAX never falls due");
    /* SIGTERM still ends a task with the default handler; the SIGKILL after
       a LONG_MAX grace is never due and must not fire at once either. */
    t = forkpool_set_timeout(forkpool_run(pool, task_forever, NULL, 0), 50);
    is(forkpool_wait(t), 1, "a timed-out task with grace LONG_MAX fails");
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_TIMEOUT, "as a timeout");
    forkpool_destroy(pool);
}

static forkpool *g_inline;
static int g_cancel_errno;

static int task_nested(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    forkpool *inner = forkpool_create(NULL);
    forkpool_task *t = forkpool_run(inner, task_quick, NULL, 0);
    int rc = forkpool_wait(t);
    forkpool_destroy(inner);
    forkpool_stop(g_inline); /* nothing else queued: must not crash */
    return rc == 0 ? forkpool_return(ctx, "nested ok", 9) : 1;
}

static forkpool_task *g_self;

static int task_cancel_self(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    g_cancel_errno = forkpool_cancel(g_self) == -1 ? errno : 0;
    return 0;
}

static int task_big_message(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    char buf[200] = {0};
    int rc = forkpool_send(ctx, buf, sizeof buf);
    return rc == -1 && errno == EMSGSIZE ? 0 : 2;
}

static void inline_edges(void)
{
    forkpool_options o = {0};
    o.mode = FORKPOOL_INLINE;
    o.max_output = 100;
    g_inline = forkpool_create(&o);
    forkpool_task *t = forkpool_run(g_inline, task_nested, NULL, 0);
    is(forkpool_wait(t), 0, "INLINE: a task runs a FRESH pool of its own and stops its pool");
    size_t n;
    const char *r = forkpool_task_result(t, &n);
    is_mem(r, n, "nested ok", 9, "INLINE: the nested task's result");
    g_self = forkpool_run(g_inline, task_cancel_self, NULL, 0);
    forkpool_wait(g_self);
    is(g_cancel_errno, EBUSY, "INLINE: cancelling the running task fails with EBUSY");
    is(forkpool_task_state(g_self), FORKPOOL_SUCCEEDED, "INLINE: and it still succeeds");
    t = forkpool_run(g_inline, task_big_message, NULL, 0);
    is(forkpool_wait(t), 1, "INLINE: a message over max_output fails the task");
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_OUTPUT, "INLINE: with FORKPOOL_ERR_OUTPUT");
    forkpool_destroy(g_inline);
}

/* 65 MiB of messages with no on_message handler. */
static int task_chatty(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    static char chunk[1 << 20];
    for (int i = 0; i < 65; i++)
        if (forkpool_send(ctx, chunk, sizeof chunk) == -1)
            return 2;
    tap_pause_forever();
}

static void backlog(void)
{
    forkpool *pool = forkpool_create(NULL);
    forkpool_task *t = forkpool_run(pool, task_chatty, NULL, 0);
    is(forkpool_wait(t), 1, "a task whose messages nobody takes is stopped at the bound");
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_OUTPUT && strstr(e->message, "on_message"),
       "with FORKPOOL_ERR_OUTPUT naming the cause: %s", e ? e->message : "");
    forkpool_destroy(pool);
}

static forkpool *g_doomed;

static void destroy_in_then(forkpool_task *t, const void *r, size_t n, void *ud)
{
    (void)t;
    (void)r;
    (void)n;
    (void)ud;
    forkpool_destroy(g_doomed);
}

/* A handler destroys its pool: the pool stops at once, and the await that
   ran the handler frees it and says so. */
static void destroy_from_handler(void)
{
    g_doomed = forkpool_create(NULL);
    forkpool_then(forkpool_run(g_doomed, task_quick, NULL, 0), destroy_in_then, NULL);
    forkpool_run(g_doomed, task_forever, NULL, 0);
    errno = 0;
    is(forkpool_await(g_doomed), -1, "await after a handler destroyed the pool fails");
    is(errno, ECANCELED, "with ECANCELED");
}

int main(void)
{
    tap_watchdog(60);
    int fds = tap_fd_count();
    late_look(0);
    late_look(1);
    unsetenv("FORKPOOL_NO_PIDFD");
    huge_limits();
    inline_edges();
    backlog();
    destroy_from_handler();
    is(tap_fd_count(), fds, "no fd left");
    ok(tap_no_children(), "no child left");
    return done_testing();
}
