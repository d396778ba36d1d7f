/* A task starts with the default disposition for every signal: neither
   the program's handlers nor the signals it ignores, classic or realtime,
   set before or after the pool was made, reach the task (each variant:
   FRESH, a worker, the fork server's children). */
#include "forkpool.h"
#include "tap.h"

static void on_signal(int sig)
{
    (void)sig;
}

/* The signals the program sets: odd indexes get a handler, even ones are
   ignored. Not SIGCHLD, which the library watches. */
static int sigs[8];
static const int nsigs = (int)(sizeof sigs / sizeof sigs[0]);

static void set_all(int from, int to)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    for (int i = from; i < to; i++) {
        sa.sa_handler = i % 2 ? on_signal : SIG_IGN;
        if (sigaction(sigs[i], &sa, NULL) != 0)
            bail_out("sigaction failed");
    }
}

/* Bit i: sigs[i] is not SIG_DFL here. */
static unsigned not_default(void)
{
    unsigned m = 0;
    for (int i = 0; i < nsigs; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL)
            m |= 1u << i;
    }
    return m;
}

static int task_dispositions(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    unsigned m = not_default();
    return forkpool_return(ctx, &m, sizeof m);
}

static unsigned run_one(forkpool *p)
{
    unsigned m = ~0u;
    forkpool_task *t = forkpool_run(p, task_dispositions, NULL, 0);
    size_t len = 0;
    const void *r = t && forkpool_wait(t) == 0 ? forkpool_task_result(t, &len) : NULL;
    if (r && len == sizeof m)
        memcpy(&m, r, sizeof m);
    forkpool_task_release(t);
    return m;
}

int main(void)
{
    tap_watchdog(60);
    int list[] = {SIGUSR1, SIGUSR2,     SIGHUP,      SIGPIPE,
                  SIGWINCH, SIGRTMIN + 3, SIGRTMIN + 20, SIGRTMAX - 2};
    memcpy(sigs, list, sizeof sigs);

    set_all(0, 4);
    forkpool *p = forkpool_create(NULL);
    if (!p)
        bail_out("forkpool_create failed");
    is(not_default(), 0x0fu, "the program set 4 signals (2 handlers, 2 ignored)");
    unsigned m = run_one(p);
    is(m, 0u, "a task sees the default for each of them (mask %#x)", m);

    set_all(4, nsigs);
    is(not_default(), 0xffu, "after create, the program set 4 more (realtime ones too)");
    m = run_one(p);
    is(m, 0u, "a task sees the default for all 8 (mask %#x)", m);
    forkpool_destroy(p);

    p = forkpool_create(NULL);
    if (!p)
        bail_out("forkpool_create failed");
    m = run_one(p);
    is(m, 0u, "so does a task of a pool made after all 8 were set (mask %#x)", m);
    forkpool_destroy(p);
    return done_testing();
}
