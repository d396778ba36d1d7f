/* max_cpu_ms and max_memory: a task that burns CPU past its limit is
   killed and fails SIGNALED with a message naming the limit (wall time
   spent sleeping does not count); one that blocks SIGXCPU is still killed;
   a program (exec) too; past max_memory, allocations fail inside the task
   instead of exhausting the machine. */
#include <limits.h>
#include <signal.h>

#include "forkpool.h"
#include "tap.h"

static volatile unsigned long sink;

static int task_spin(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)len;
    if (*(const int *)arg) {
        sigset_t xcpu;
        sigemptyset(&xcpu);
        sigaddset(&xcpu, SIGXCPU);
        sigprocmask(SIG_BLOCK, &xcpu, NULL);
    }
    while (sink != ULONG_MAX) /* ~forever: until the limit kills it */
        sink++;
    return 0;
}

static int task_sleep(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    tap_sleep_ms(600);
    return forkpool_return(ctx, "slept", 5);
}

/* Reports whether a 1 GiB allocation failed, and roughly how much memory
   could be touched in 1 MiB steps before allocations failed. */
static int task_alloc(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    static char *held[1024];
    char out[64];
    void *big = malloc((size_t)1 << 30);
    size_t got = 0;
    for (; got < 1024; got++) {
        if (!(held[got] = malloc(1 << 20)))
            break;
        memset(held[got], 1, 1 << 20);
    }
    snprintf(out, sizeof out, "%s %zu", big ? "big" : "nobig", got);
    free(big);
    while (got-- > 0)
        free(held[got]);
    return forkpool_return(ctx, out, strlen(out));
}

static void cpu(void)
{
    forkpool_options o = {0};
    o.max_cpu_ms = 300;
    forkpool *p = forkpool_create(&o);
    int block = 0;
    forkpool_task *t = forkpool_run(p, task_spin, &block, sizeof block);
    is(forkpool_wait(t), 1, "a task spinning past max_cpu_ms fails");
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SIGNALED && e->code == SIGXCPU, "SIGNALED with SIGXCPU");
    ok(e && strstr(e->message, "max_cpu_ms (300 ms)"), "the message names the limit: %s",
       e ? e->message : "");
    forkpool_task_release(t);

    block = 1;
    t = forkpool_run(p, task_spin, &block, sizeof block);
    is(forkpool_wait(t), 1, "one that blocks SIGXCPU fails too");
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SIGNALED && e->code == SIGKILL &&
           strstr(e->message, "max_cpu_ms"),
       "killed by the RLIMIT_CPU backstop: %s", e ? e->message : "");
    forkpool_task_release(t);

    t = forkpool_run(p, task_sleep, NULL, 0);
    is(forkpool_wait(t), 0, "sleeping longer than max_cpu_ms is fine: CPU time, not wall time");
    forkpool_task_release(t);

    const char *argv[] = {"sh", "-c", "while :; do :; done", NULL};
    t = forkpool_exec(p, argv, NULL);
    is(forkpool_wait(t), 1, "a spinning program fails (limit rounded up to 1 s)");
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SIGNALED && strstr(e->message, "'sh'") &&
           strstr(e->message, "max_cpu_ms"),
       "naming the program and the limit: %s", e ? e->message : "");
    forkpool_task_release(t);
    forkpool_destroy(p);
}


static void memory(void)
{
    forkpool_options o = {0};
    /* Above what the process already maps (valgrind maps a lot), so it is
       the task's own allocations that meet the limit. */
    o.max_memory = tap_vm_size() + ((size_t)128 << 20);
    forkpool *p = forkpool_create(&o);
    forkpool_task *t = forkpool_run(p, task_alloc, NULL, 0);
    is(forkpool_wait(t), 0, "a task under max_memory runs");
    size_t n;
    const char *r = forkpool_task_result(t, &n);
    char buf[64] = "";
    if (r && n < sizeof buf)
        memcpy(buf, r, n);
    unsigned got = 0;
    char what[8] = "";
    ok(sscanf(buf, "%7s %u", what, &got) == 2 && strcmp(what, "nobig") == 0,
       "a 1 GiB allocation fails inside it (%s)", buf);
    ok(got < 1024, "touching memory stops at the limit: %u MiB, not the 1 GiB it asked", got);
    forkpool_task_release(t);
    forkpool_destroy(p);

    o.max_memory = 0;
    o.max_cpu_ms = -1;
    errno = 0;
    ok(!forkpool_create(&o) && errno == EINVAL, "negative max_cpu_ms: EINVAL");
}

int main(void)
{
    tap_watchdog(60);
    int fds = tap_fd_count();
    cpu();
    memory();
    is(tap_fd_count(), fds, "no fd left");
    ok(tap_no_children(), "no child left");
    return done_testing();
}
