/* forkpool_fd in the caller's own poll() loop: calling forkpool_poll(pool, 0)
   only when the fd is readable completes every task; the fd turns readable
   by itself when a timeout falls due (and again when the SIGKILL after the
   grace is due), in pidfd and fallback modes. */
#include <poll.h>

#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int started;
};
static struct shared *sh;

static int task_square(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int v = *(const int *)arg;
    tap_sleep_ms(5 * (v % 3));
    v *= v;
    return forkpool_return(ctx, &v, sizeof v) == 0 ? 0 : 1;
}

static int task_sleep_forever(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)len;
    if (*(const int *)arg)
        signal(SIGTERM, SIG_IGN);
    atomic_fetch_add(&sh->started, 1);
    tap_pause_forever();
}

static int results[8], then_calls;
static void on_then(forkpool_task *t, const void *r, size_t len, void *ud)
{
    (void)t;
    if (len == sizeof(int))
        memcpy(&results[*(int *)ud], r, sizeof(int));
    then_calls++;
}
static int timeouts;
static void on_timeout(forkpool_task *t, void *ud)
{
    (void)t; (void)ud;
    timeouts++;
}

/* waits for the fd to be readable; 1 if it is, 0 if it stayed quiet */
static int wait_readable(int fd, int ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    int r;
    do
        r = poll(&pfd, 1, ms * tap_scale());
    while (r < 0 && errno == EINTR);
    return r > 0 && (pfd.revents & POLLIN);
}

static void suite(const char *mode, int no_pidfd)
{
    if (no_pidfd)
        setenv("FORKPOOL_NO_PIDFD", "1", 1);
    else
        unsetenv("FORKPOOL_NO_PIDFD");
    memset(sh, 0, sizeof *sh);
    then_calls = 0;
    timeouts = 0;
    forkpool_options o = {0};
    o.concurrency = 2;
    o.kill_grace_ms = 100;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "%s: forkpool_create", mode);
    if (!p)
        bail_out("no pool");
    int fd = forkpool_fd(p);
    ok(fd >= 0, "%s: forkpool_fd", mode);

    /* a caller's poll() loop */
    static int vals[6] = {0, 1, 2, 3, 4, 5};
    for (int i = 0; i < 6; i++)
        forkpool_task_release(forkpool_then(forkpool_run(p, task_square, &vals[i], sizeof vals[i]), on_then,
                                            &vals[i]));
    int left = 6, quiet = 0, rounds = 0;
    while (left > 0) {
        if (!wait_readable(fd, 5000)) {
            quiet = 1;
            break;
        }
        left = forkpool_poll(p, 0);
        if (left < 0)
            break;
        rounds++;
    }
    ok(!quiet, "%s: the fd became readable whenever work was pending", mode);
    is(left, 0, "%s: forkpool_poll(pool, 0) on readiness completed every task", mode);
    is(then_calls, 6, "%s: all 6 then handlers ran", mode);
    int good = 1;
    for (int i = 0; i < 6; i++)
        if (results[i] != i * i)
            good = 0;
    ok(good, "%s: with the right results", mode);

    /* a timeout falling due makes the fd readable by itself */
    for (int stubborn = 0; stubborn < 2; stubborn++) {
        int before = timeouts;
        atomic_store(&sh->started, 0);
        static int flags[2] = {0, 1};
        forkpool_task *t = forkpool_run(p, task_sleep_forever, &flags[stubborn], sizeof(int));
        forkpool_timeout(t, on_timeout, NULL);
        /* drive the start until the child runs, using only readiness */
        ok(TAP_WAIT_UNTIL((wait_readable(fd, 0) ? forkpool_poll(p, 0) : 0, atomic_load(&sh->started)), 5000),
           "%s%s: sleeping task started", mode, stubborn ? " (ignores SIGTERM)" : "");
        forkpool_set_timeout(t, 100); /* a running task's deadline moves at once */
        pid_t pid = forkpool_task_pid(t);
        int wakeups = 0, quiet2 = 0;
        while (forkpool_task_state(t) == FORKPOOL_RUNNING) {
            if (!wait_readable(fd, 5000)) {
                quiet2 = 1;
                break;
            }
            wakeups++;
            forkpool_poll(p, 0);
        }
        ok(!quiet2, "%s%s: without forkpool_poll the fd turned readable for the deadline%s", mode,
           stubborn ? " (ignores SIGTERM)" : "", stubborn ? " and the SIGKILL" : "");
        is(forkpool_task_state(t), FORKPOOL_FAILED, "%s: the task ended", mode);
        const forkpool_error *e = forkpool_task_error(t);
        ok(e && e->kind == FORKPOOL_ERR_TIMEOUT, "%s: by its timeout", mode);
        is(timeouts, before + 1, "%s: the timeout handler ran", mode);
        ok(tap_pid_dead(pid), "%s: the process is gone", mode);
        forkpool_task_release(t);
        diag("%s: %d wakeups", mode, wakeups);
    }
    is(forkpool_poll(p, 0), 0, "%s: nothing left", mode);
    forkpool_destroy(p);
    ok(tap_no_children(), "%s: no children", mode);
}

int main(void)
{
    tap_watchdog(30);
    sh = tap_shared(sizeof *sh);
    suite("pidfd", 0);
    suite("FORKPOOL_NO_PIDFD=1", 1);
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
