/* Bad arguments: EINVAL and no-ops, as the header promises, and a
   chain after a failed forkpool_run does not crash. */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int r_null_ctx, e_null_ctx;
    _Atomic int r_null_data, e_null_data;
    _Atomic int r_send_null_ctx, e_send_null_ctx;
    _Atomic int done;
};
static struct shared *sh;

static int task_ok(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    return forkpool_return(ctx, "ok", 2) == 0 ? 0 : 1;
}

static int task_misuse(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    errno = 0;
    atomic_store(&sh->r_null_ctx, forkpool_return(NULL, "x", 1));
    atomic_store(&sh->e_null_ctx, errno);
    errno = 0;
    atomic_store(&sh->r_null_data, forkpool_return(ctx, NULL, 5));
    atomic_store(&sh->e_null_data, errno);
    errno = 0;
    atomic_store(&sh->r_send_null_ctx, forkpool_send(NULL, "x", 1));
    atomic_store(&sh->e_send_null_ctx, errno);
    atomic_store(&sh->done, 1);
    /* the rejected forkpool_return did not count: this one works */
    return forkpool_return(ctx, "after", 5) == 0 ? 0 : 1;
}

static void then_nop(forkpool_task *t, const void *r, size_t l, void *ud)
{
    (void)t; (void)r; (void)l; (void)ud;
}
static void catch_nop(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t; (void)e; (void)ud;
}
static void timeout_nop(forkpool_task *t, void *ud)
{
    (void)t; (void)ud;
}
static void msg_nop(forkpool_task *t, const void *m, size_t l, void *ud)
{
    (void)t; (void)m; (void)l; (void)ud;
}

#define EXPECT_NULL_ERRNO(expr, err, name)                                  \
    do {                                                                    \
        errno = 0;                                                          \
        void *r_ = (void *)(expr);                                          \
        int e_ = errno;                                                     \
        ok(r_ == NULL && e_ == (err), "%s: NULL, errno %s (got %p, %d)", name, #err, r_, e_); \
    } while (0)

#define EXPECT_M1_ERRNO(expr, err, name)                                    \
    do {                                                                    \
        errno = 0;                                                          \
        long r_ = (long)(expr);                                             \
        int e_ = errno;                                                     \
        ok(r_ == -1 && e_ == (err), "%s: -1, errno %s (got %ld, %d)", name, #err, r_, e_); \
    } while (0)

int main(void)
{
    tap_watchdog(20);
    sh = tap_shared(sizeof *sh);
    forkpool_options o;

    /* forkpool_create */
    memset(&o, 0, sizeof o);
    o.timeout_ms = -1;
    EXPECT_NULL_ERRNO(forkpool_create(&o), EINVAL, "create: negative timeout_ms");
    memset(&o, 0, sizeof o);
    o.kill_grace_ms = -5;
    EXPECT_NULL_ERRNO(forkpool_create(&o), EINVAL, "create: negative kill_grace_ms");
    memset(&o, 0, sizeof o);
    o.mode = (forkpool_mode)42;
    EXPECT_NULL_ERRNO(forkpool_create(&o), EINVAL, "create: unknown mode 42");
    memset(&o, 0, sizeof o);
    o.mode = (forkpool_mode)-1;
    EXPECT_NULL_ERRNO(forkpool_create(&o), EINVAL, "create: unknown mode -1");
    memset(&o, 0, sizeof o);
    ok(tap_no_children(), "failed creates made no child");
    o.mode = FORKPOOL_WORKERS;
    forkpool *wp = forkpool_create(&o);
    ok(wp != NULL, "create: FORKPOOL_WORKERS succeeds");
    ok(tap_no_children(), "a WORKERS pool forks no worker before it has a task");
    forkpool_destroy(wp);

    /* NULL pool */
    EXPECT_NULL_ERRNO(forkpool_run(NULL, task_ok, NULL, 0), EINVAL, "run: NULL pool");
    EXPECT_M1_ERRNO(forkpool_await(NULL), EINVAL, "await(NULL)");
    EXPECT_M1_ERRNO(forkpool_poll(NULL, 0), EINVAL, "poll(NULL)");
    EXPECT_M1_ERRNO(forkpool_fd(NULL), EINVAL, "forkpool_fd(NULL)");
    forkpool_stats s = forkpool_get_stats(NULL);
    ok(s.queued == 0 && s.running == 0 && s.succeeded == 0 && s.failed == 0 && s.timed_out == 0 &&
           s.cancelled == 0,
       "get_stats(NULL): all zero");
    forkpool_destroy(NULL);
    ok(1, "destroy(NULL): no-op");
    forkpool_stop(NULL);
    ok(1, "stop(NULL): no-op");

    /* NULL task */
    EXPECT_NULL_ERRNO(forkpool_then(NULL, then_nop, NULL), EINVAL, "then(NULL task)");
    EXPECT_NULL_ERRNO(forkpool_catch(NULL, catch_nop, NULL), EINVAL, "catch(NULL task)");
    EXPECT_NULL_ERRNO(forkpool_catch_type(NULL, "x", catch_nop, NULL), EINVAL, "catch_type(NULL task)");
    EXPECT_NULL_ERRNO(forkpool_timeout(NULL, timeout_nop, NULL), EINVAL, "timeout(NULL task)");
    EXPECT_NULL_ERRNO(forkpool_on_message(NULL, msg_nop, NULL), EINVAL, "on_message(NULL task)");
    EXPECT_NULL_ERRNO(forkpool_set_timeout(NULL, 10), EINVAL, "set_timeout(NULL task)");
    EXPECT_M1_ERRNO(forkpool_wait(NULL), EINVAL, "wait(NULL)");
    EXPECT_M1_ERRNO(forkpool_cancel(NULL), EINVAL, "cancel(NULL)");
    errno = 0;
    forkpool_state st = forkpool_task_state(NULL);
    ok(st == FORKPOOL_FAILED && errno == EINVAL, "task_state(NULL): FAILED, EINVAL");
    size_t len = 99;
    ok(forkpool_task_result(NULL, &len) == NULL && len == 0, "task_result(NULL): NULL, len 0");
    ok(forkpool_task_error(NULL) == NULL, "task_error(NULL): NULL");
    is(forkpool_task_pid(NULL), 0, "task_pid(NULL): 0");
    forkpool_task_release(NULL);
    ok(1, "task_release(NULL): no-op");

    forkpool *p = forkpool_create(NULL);
    ok(p != NULL, "forkpool_create(NULL)");
    if (!p)
        bail_out("no pool");
    EXPECT_NULL_ERRNO(forkpool_run(p, NULL, NULL, 0), EINVAL, "run: NULL fn");
    EXPECT_NULL_ERRNO(forkpool_run(p, task_ok, NULL, 3), EINVAL, "run: NULL arg with len 3");
    /* a chain after a failed forkpool_run does not crash */
    forkpool_task *chain = forkpool_catch(forkpool_then(forkpool_run(p, NULL, NULL, 0), then_nop, NULL),
                                          catch_nop, NULL);
    ok(chain == NULL, "a chain after a failed run yields NULL without crashing");
    forkpool_stats s0 = forkpool_get_stats(p);
    is(s0.queued + s0.running, 0, "nothing was queued by the failed runs");

    /* NULL handler functions */
    forkpool_task *t = forkpool_run(p, task_misuse, NULL, 0);
    ok(t != NULL, "a valid task");
    EXPECT_NULL_ERRNO(forkpool_then(t, NULL, NULL), EINVAL, "then(NULL fn)");
    EXPECT_NULL_ERRNO(forkpool_catch(t, NULL, NULL), EINVAL, "catch(NULL fn)");
    EXPECT_NULL_ERRNO(forkpool_catch_type(t, "x", NULL, NULL), EINVAL, "catch_type(NULL fn)");
    EXPECT_NULL_ERRNO(forkpool_timeout(t, NULL, NULL), EINVAL, "timeout(NULL fn)");
    EXPECT_NULL_ERRNO(forkpool_on_message(t, NULL, NULL), EINVAL, "on_message(NULL fn)");
    EXPECT_NULL_ERRNO(forkpool_set_timeout(t, -1), EINVAL, "set_timeout(-1)");
    is(forkpool_wait(t), 0, "the task still succeeds");
    ok(atomic_load(&sh->done), "the task ran its checks");
    ok(atomic_load(&sh->r_null_ctx) == -1 && atomic_load(&sh->e_null_ctx) == EINVAL,
       "forkpool_return(NULL ctx): -1/EINVAL");
    ok(atomic_load(&sh->r_null_data) == -1 && atomic_load(&sh->e_null_data) == EINVAL,
       "forkpool_return(NULL data, len 5): -1/EINVAL");
    ok(atomic_load(&sh->r_send_null_ctx) == -1 && atomic_load(&sh->e_send_null_ctx) == EINVAL,
       "forkpool_send(NULL ctx): -1/EINVAL");
    size_t rl = 0;
    const void *res = forkpool_task_result(t, &rl);
    is_mem(res, rl, "after", 5, "a rejected forkpool_return does not use up the result");
    forkpool_task_release(t);

    /* forkpool_fd: a valid fd, the same each time */
    int fd = forkpool_fd(p);
    ok(fd >= 0 && fcntl(fd, F_GETFD) != -1, "forkpool_fd: an open fd");
    is(forkpool_fd(p), fd, "the same fd each call");

    forkpool_destroy(p);
    ok(tap_no_children(), "no children");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
