/* forkpool_task_usage: a task's run time, CPU time and peak RSS, in every
   mode (FRESH, WORKERS, fork server, INLINE, programs), for tasks that
   succeeded, crashed or never ran; its errors. And the max_memory hint in a
   crash's message: only when the task grew into the limit (issue #11). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "forkpool.h"
#include "tap.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Burns arg's seconds of CPU (measured, so it cannot be shorter). */
static int task_burn(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)len;
    double secs;
    memcpy(&secs, arg, sizeof secs);
    double end = cpu_now() + secs;
    volatile unsigned long x = 0;
    while (cpu_now() < end)
        x++;
    return 0;
}

static int task_sleep(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    tap_sleep_ms(200);
    return 0;
}

/* Touches arg's MiB, then frees them. */
static int task_touch(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int mib = *(const int *)arg;
    char *p = malloc((size_t)mib << 20);
    if (!p)
        return forkpool_throw(ctx, "test", "no %d MiB", mib);
    memset(p, 1, (size_t)mib << 20);
    int sum = p[12345] + p[((size_t)mib << 20) - 1];
    free(p);
    return forkpool_return(ctx, &sum, sizeof sum) == 0 ? 0 : 1;
}

static int task_crash(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    raise(SIGSEGV);
    return 0;
}

/* Grows 1 MiB at a time, touching each, until an allocation fails; then
   uses the failed allocation, as code that does not expect the failure
   would. mmap, not malloc: under ASan its allocator's own failure would
   end the process its way first. */
static int task_grow_then_crash(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    for (;;) {
        void *p = mmap(NULL, (size_t)1 << 20, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            raise(SIGSEGV); /* what using it would do, without UB */
        memset(p, 1, (size_t)1 << 20);
    }
    return 0;
}

static int task_wait(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    tap_pause_forever();
}

static forkpool_usage usage_of(forkpool *p, forkpool_fn fn, const void *arg, size_t len,
                               int want_rc, const char *what)
{
    forkpool_usage u = {-1, -1, -1, -1};
    forkpool_task *t = forkpool_run(p, fn, arg, len);
    is(forkpool_wait(t), want_rc, "%s: ended as expected", what);
    is(forkpool_task_usage(t, &u), 0, "%s: usage known", what);
    forkpool_task_release(t);
    return u;
}

static void measures(forkpool_mode mode, const char *name)
{
    forkpool_options o = {.concurrency = 1, .mode = mode};
    forkpool *p = forkpool_create(&o);
    double slack = 0.1 * tap_scale();
    char what[64];

    /* Short tasks first: in WORKERS their figures are estimated (their
       run time), and the next measured task settles the difference; it
       must still get its own CPU time, no less and not much more. */
    int short_ok = 0;
    for (int k = 0; k < 200; k++) {
        double none = 0;
        forkpool_task *t = forkpool_run(p, task_burn, &none, sizeof none);
        forkpool_usage su;
        short_ok += forkpool_wait(t) == 0 && forkpool_task_usage(t, &su) == 0 &&
                    su.user_s + su.sys_s <= su.wall_s + slack && su.max_rss_kib > 0;
        forkpool_task_release(t);
    }
    is(short_ok, 200, "%s: 200 short tasks: CPU within run time, an RSS", name);
    double secs = 0.3;
    snprintf(what, sizeof what, "%s: CPU-bound", name);
    forkpool_usage u = usage_of(p, task_burn, &secs, sizeof secs, 0, what);
    ok(u.user_s + u.sys_s >= 0.29, "%s: CPU time %.3f s covers the 0.3 s burnt", what,
       u.user_s + u.sys_s);
    ok(u.wall_s >= 0.29, "%s: run time %.3f s covers it", what, u.wall_s);
    ok(u.user_s + u.sys_s <= u.wall_s + slack, "%s: CPU %.3f s within run time %.3f s", what,
       u.user_s + u.sys_s, u.wall_s);

    snprintf(what, sizeof what, "%s: sleeping", name);
    u = usage_of(p, task_sleep, "", 0, 0, what);
    ok(u.wall_s >= 0.199, "%s: run time %.3f s covers the 200 ms sleep", what, u.wall_s);
    ok(u.user_s + u.sys_s < slack, "%s: little CPU (%.3f s): the burn before is not counted",
       what, u.user_s + u.sys_s);

    int mib = 64;
    snprintf(what, sizeof what, "%s: 64 MiB touched", name);
    u = usage_of(p, task_touch, &mib, sizeof mib, 0, what);
    ok(u.max_rss_kib >= 64 * 1024, "%s: peak RSS %ld KiB covers them", what, u.max_rss_kib);

    if (mode != FORKPOOL_INLINE) {
        snprintf(what, sizeof what, "%s: crashed", name);
        u = usage_of(p, task_crash, "", 0, 1, what);
        ok(u.wall_s > 0 && u.max_rss_kib > 0, "%s: a run time (%.4f s) and RSS (%ld KiB)", what,
           u.wall_s, u.max_rss_kib);
    }
    forkpool_destroy(p);
}

static void errors(void)
{
    forkpool_usage u;
    errno = 0;
    ok(forkpool_task_usage(NULL, &u) == -1 && errno == EINVAL, "NULL task: EINVAL");
    forkpool_options o = {.concurrency = 1};
    forkpool *p = forkpool_create(&o);
    forkpool_task *run = forkpool_run(p, task_wait, "", 0);
    forkpool_task *queued = forkpool_run(p, task_wait, "", 0);
    errno = 0;
    ok(forkpool_task_usage(run, NULL) == -1 && errno == EINVAL, "NULL usage: EINVAL");
    errno = 0;
    ok(forkpool_task_usage(run, &u) == -1 && errno == EBUSY, "running: EBUSY");
    errno = 0;
    ok(forkpool_task_usage(queued, &u) == -1 && errno == EBUSY, "queued: EBUSY");
    forkpool_cancel(queued);
    is(forkpool_wait(queued), 1, "cancelled while queued");
    memset(&u, 0xff, sizeof u);
    ok(forkpool_task_usage(queued, &u) == 0 && u.wall_s == 0 && u.user_s == 0 &&
           u.sys_s == 0 && u.max_rss_kib == 0,
       "never ran: zeros");
    forkpool_cancel(run);
    is(forkpool_wait(run), 1, "cancelled while running");
    ok(forkpool_task_usage(run, &u) == 0 && u.wall_s > 0, "cancelled while running: a run time");
    forkpool_task_release(run);
    forkpool_task_release(queued);

    const char *argv[] = {"sh", "-c", "sleep 0.2", NULL};
    forkpool_task *e = forkpool_exec(p, argv, NULL);
    is(forkpool_wait(e), 0, "program: ran");
    ok(forkpool_task_usage(e, &u) == 0 && u.wall_s >= 0.199 && u.max_rss_kib > 0,
       "program: run time %.3f s, RSS %ld KiB", u.wall_s, u.max_rss_kib);
    forkpool_task_release(e);
    forkpool_destroy(p);
}

static void on_then(forkpool_task *t, const void *res, size_t len, void *ud)
{
    (void)res;
    (void)len;
    forkpool_usage u;
    *(int *)ud = forkpool_task_usage(t, &u) == 0 && u.wall_s >= 0.199;
}

static void in_handler(void)
{
    forkpool *p = forkpool_create(NULL);
    int seen = 0;
    forkpool_task_release(forkpool_then(forkpool_run(p, task_sleep, "", 0), on_then, &seen));
    is(forkpool_await(p), 0, "handler: ran");
    ok(seen, "handler: usage known in the then handler");
    forkpool_destroy(p);
}

/* The max_memory hint: a task that grew into the limit and crashed gets
   it; one that crashed small does not (the limit far away). */
static void memory_hint(void)
{
    forkpool_options o = {.concurrency = 1, .max_memory = tap_vm_size() + ((size_t)128 << 20)};
    forkpool *p = forkpool_create(&o);
    forkpool_task *t = forkpool_run(p, task_grow_then_crash, "", 0);
    is(forkpool_wait(t), 1, "grew into max_memory: failed");
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SIGNALED && strstr(e->message, "max_memory"),
       "grew into max_memory: the message names it (%s)", e ? e->message : "");
    forkpool_task_release(t);
    forkpool_destroy(p);

    o.max_memory = tap_vm_size() + ((size_t)8 << 30);
    p = forkpool_create(&o);
    t = forkpool_run(p, task_crash, "", 0);
    is(forkpool_wait(t), 1, "crashed small: failed");
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SIGNALED && !strstr(e->message, "max_memory"),
       "crashed small: no max_memory hint (%s)", e ? e->message : "");
    forkpool_task_release(t);
    forkpool_destroy(p);
}

int main(void)
{
    tap_watchdog(120);
    measures(FORKPOOL_FRESH, "pool");
    measures(FORKPOOL_INLINE, "inline");
    errors();
    in_handler();
    memory_hint();
    ok(tap_no_children(), "no children left");
    return done_testing();
}
