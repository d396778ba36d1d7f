/* A child whose set-up fails before the task's function or program runs
   (here: setrlimit for max_memory, and the CPU limit's setrlimit and
   timer_create, made to fail by wrapping them in this test program) reports
   it to the parent: the task fails FORKPOOL_ERR_SPAWN with the errno and a
   message naming the step, never EXITED 127; the function never runs;
   nothing is left behind; once set-up works again the same pool runs tasks.
   The wrappers read their orders from shared memory, since the fork
   server's helper is a snapshot of this program. */
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <time.h>

#include "forkpool.h"
#include "tap.h"

struct orders {
    int fail_as, fail_cpu, err;
    int ran; /* task functions that ran */
};
static struct orders *orders;

/* libc's, found on first use (sanitizer runtimes call these before main). */
int setrlimit(__rlimit_resource_t r, const struct rlimit *l)
{
    static int (*real)(__rlimit_resource_t, const struct rlimit *);
    if (orders && ((r == RLIMIT_AS && orders->fail_as) || (r == RLIMIT_CPU && orders->fail_cpu))) {
        errno = orders->err;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "setrlimit");
    return real(r, l);
}

int timer_create(clockid_t c, struct sigevent *ev, timer_t *id)
{
    static int (*real)(clockid_t, struct sigevent *, timer_t *);
    if (orders && orders->fail_cpu) {
        errno = orders->err;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "timer_create");
    return real(c, ev, id);
}

static int task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    __atomic_add_fetch(&orders->ran, 1, __ATOMIC_SEQ_CST);
    return forkpool_return(ctx, "ok", 2);
}

struct seen {
    int spawn, other, then, code_ok, msg_ok;
};

static const char *want_in_msg;

static void on_then(forkpool_task *t, const void *r, size_t n, void *ud)
{
    (void)t;
    (void)r;
    (void)n;
    ((struct seen *)ud)->then++;
}

static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    struct seen *s = ud;
    (void)t;
    if (e->kind != FORKPOOL_ERR_SPAWN) {
        diag("unexpected: %s: %s", forkpool_error_kind_name(e->kind), e->message);
        s->other++;
        return;
    }
    s->spawn++;
    s->code_ok += e->code == orders->err;
    s->msg_ok += strstr(e->message, want_in_msg) != NULL;
    if (s->spawn == 1)
        diag("%s", e->message);
}

/* n function tasks (or programs, exec) with set-up failing as ordered. */
static void batch(forkpool *p, int n, int exec, const char *msg, int expect_fail,
                  const char *what)
{
    struct seen s = {0};
    static const char *const argv[] = {"true", NULL};
    want_in_msg = msg;
    orders->ran = 0;
    for (int i = 0; i < n; i++) {
        forkpool_task *t = exec ? forkpool_exec(p, argv, NULL) : forkpool_run(p, task, NULL, 0);
        if (!t)
            bail_out("cannot queue a task");
        forkpool_catch(forkpool_then(t, on_then, &s), on_catch, &s);
        forkpool_task_release(t);
    }
    is(forkpool_await(p), 0, "%s: await returns, every failure was caught", what);
    is(s.spawn, expect_fail ? n : 0, "%s: %d tasks failed SPAWN", what, expect_fail ? n : 0);
    is(s.code_ok, s.spawn, "%s: each with the errno (%s)", what, strerror(orders->err));
    is(s.msg_ok, s.spawn, "%s: each message names the step (\"%s\")", what, msg);
    is(s.other, 0, "%s: no other kind of failure (not EXITED 127)", what);
    is(s.then, expect_fail ? 0 : n, "%s: %d succeeded", what, expect_fail ? 0 : n);
    if (!exec)
        is(orders->ran, expect_fail ? 0 : n, "%s: the function ran %d times", what,
           expect_fail ? 0 : n);
}

int main(void)
{
    tap_watchdog(60);
    orders = tap_shared(sizeof *orders);
    int fds = tap_fd_count();

    forkpool_options o = {0};
    o.concurrency = 2;
    /* A limit nothing comes near (AddressSanitizer reserves tens of TiB). */
    o.max_memory = (size_t)1 << 47;
    o.max_cpu_ms = 60000;
    forkpool *p = forkpool_create(&o);
    if (!p)
        bail_out("forkpool_create failed");

    orders->err = EPERM;
    orders->fail_as = 1;
    batch(p, 5, 0, "max_memory", 1, "RLIMIT_AS fails EPERM");
    batch(p, 3, 1, "max_memory", 1, "a program, RLIMIT_AS fails EPERM");
    orders->fail_as = 0;
    orders->err = EAGAIN;
    orders->fail_cpu = 1;
    /* A WORKERS worker sets max_cpu_ms per task with timers it makes at
       its start; a FRESH child with RLIMIT_CPU and a timer: both fail. */
    batch(p, 5, 0, "max_cpu_ms", 1, "CPU limit fails EAGAIN");
    batch(p, 3, 1, "max_cpu_ms", 1, "a program, RLIMIT_CPU fails EAGAIN");
    orders->fail_cpu = 0;
    batch(p, 6, 0, "", 0, "set-up works again: the same pool");
    batch(p, 2, 1, "", 0, "set-up works again: programs");

    forkpool_stats st = forkpool_get_stats(p);
    is(st.failed, 16, "stats: 16 failed");
    is(st.succeeded, 8, "stats: 8 succeeded");
    forkpool_destroy(p);
    ok(tap_no_children(), "no child left");
    is(tap_fd_count(), fds, "no fd left");
    tap_shared_free(orders, sizeof *orders);
    return done_testing();
}
