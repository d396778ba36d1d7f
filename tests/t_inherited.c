/* A child holds none of the library's fds but its own channel, even when
   other threads create pools and start tasks while it is forked; and the
   copies of the parent's pools that a child inherits are inert: using or
   destroying them (directly, or from the host's atexit handler when a task
   calls exit()) cannot signal, reap or close anything of the parent's. */
#include <pthread.h>

#include "forkpool.h"
#include "tap.h"

static forkpool *g_pool;
static forkpool_task *g_sibling;

static int task_sleep_ok(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    tap_sleep_ms(300);
    return forkpool_return(ctx, "alive", 5);
}

/* Uses the inherited pool every way it can, then destroys it. */
static int task_meddle(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    char out[64];
    errno = 0;
    int run_einval = forkpool_run(g_pool, task_sleep_ok, NULL, 0) == NULL && errno == EINVAL;
    int await_einval = forkpool_await(g_pool) == -1 && errno == EINVAL;
    int cancel_einval = forkpool_cancel(g_sibling) == -1 && errno == EINVAL;
    forkpool_stop(g_pool);
    forkpool_destroy(g_pool);
    snprintf(out, sizeof out, "%d%d%d", run_einval, await_einval, cancel_einval);
    return forkpool_return(ctx, out, strlen(out));
}

static void destroy_at_exit(void)
{
    forkpool_destroy(g_pool);
}

static int task_exit3(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    tap_sleep_ms(50);
    exit(3); /* runs destroy_at_exit in the child */
}

static void inert_copies(forkpool_fn meddler, const char *what)
{
    g_pool = forkpool_create(NULL);
    g_sibling = forkpool_run(g_pool, task_sleep_ok, NULL, 0);
    forkpool_task *m = forkpool_run(g_pool, meddler, NULL, 0);
    forkpool_wait(m);
    is(forkpool_wait(g_sibling), 0, "%s: the sibling task was not disturbed", what);
    size_t n;
    const char *r = forkpool_task_result(g_sibling, &n);
    is_mem(r, n, "alive", 5, "%s: the sibling's result arrived", what);
    if (meddler == task_meddle) {
        r = forkpool_task_result(m, &n);
        is_mem(r, n, "111", 3, "%s: run, await and cancel on the copy fail with EINVAL", what);
    } else {
        const forkpool_error *e = forkpool_task_error(m);
        ok(e && e->kind == FORKPOOL_ERR_EXITED && e->code == 3, "%s: task exited with 3",
           what);
    }
    forkpool_task *again = forkpool_run(g_pool, task_sleep_ok, NULL, 0);
    is(forkpool_wait(again), 0, "%s: the parent's pool still works", what);
    forkpool_destroy(g_pool);
    g_pool = NULL;
    ok(tap_no_children(), "%s: no child left", what);
}

/* A task that destroys its process's copy of the pool leaves that process
   working: in WORKERS mode the same worker runs the next task (one worker),
   which must not read the freed copy (AddressSanitizer and valgrind would
   say so; the task would fail). */
static void worker_after_destroy(void)
{
    forkpool_options o = {0};
    o.concurrency = 1;
    g_sibling = NULL; /* before create: the fork server's snapshot is taken there */
    g_pool = forkpool_create(&o);
    forkpool_task *m = forkpool_run(g_pool, task_meddle, NULL, 0);
    forkpool_task *next = forkpool_run(g_pool, task_sleep_ok, NULL, 0);
    is(forkpool_wait(m), 0, "after a copy's destroy: the task that destroyed it succeeded");
    is(forkpool_wait(next), 0, "after a copy's destroy: the next task (same worker) succeeded");
    size_t n;
    const char *r = forkpool_task_result(next, &n);
    is_mem(r, n, "alive", 5, "after a copy's destroy: its result arrived");
    forkpool_destroy(g_pool);
    g_pool = NULL;
}

/* ---- fd hygiene with pools in several threads ---- */

/* "P A": pipes and anon inodes (epoll, timerfd, eventfd, pidfd) among this
   process's fds >= 3. */
static void count_fds(char *out, size_t size)
{
    int pipes = 0, anon = 0;
    for (int fd = 3; fd < 1024; fd++) {
        char path[64], target[128];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(path, target, sizeof target - 1);
        if (k <= 0)
            continue;
        target[k] = '\0';
        pipes += strncmp(target, "pipe:", 5) == 0;
        anon += strncmp(target, "anon_inode:", 11) == 0;
    }
    snprintf(out, size, "%d %d", pipes, anon);
}

/* What a child must see: the test's own fds (inherited from whoever ran
   it), plus its channel, and a worker its request pipe. */
static char g_expected[32];

static int task_count_fds(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    char out[32];
    count_fds(out, sizeof out);
    return forkpool_return(ctx, out, strlen(out));
}

#define THREADS 2
#define TASKS 60

static void *thread_main(void *arg)
{
    int *bad = arg;
    for (int round = 0; round < 3; round++) {
        forkpool_options o = {0};
        o.concurrency = 3;
        forkpool *pool = forkpool_create(&o);
        forkpool_task *t[TASKS / 3];
        for (int i = 0; i < TASKS / 3; i++)
            t[i] = forkpool_run(pool, task_count_fds, NULL, 0);
        forkpool_await(pool);
        for (int i = 0; i < TASKS / 3; i++) {
            size_t n;
            const char *r = forkpool_task_result(t[i], &n);
            if (!r || n != strlen(g_expected) || memcmp(r, g_expected, n) != 0) {
                if (!*bad)
                    diag("a child's fds >= 3: %.*s pipes, anon inodes; want %s", (int)n,
                         r ? r : "", g_expected);
                (*bad)++;
            }
        }
        forkpool_destroy(pool);
    }
    return NULL;
}

static void threads_fd_hygiene(void)
{
    char base[32];
    int pipes, anon;
    count_fds(base, sizeof base);
    if (sscanf(base, "%d %d", &pipes, &anon) != 2)
        bail_out("cannot count fds");
    snprintf(g_expected, sizeof g_expected, "%d %d", pipes + tap_task_parent_pipes(), anon);
    pthread_t th[THREADS];
    int bad[THREADS] = {0};
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, thread_main, &bad[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++)
        is(bad[i], 0, "thread %d: every child held exactly its own channel", i);
}

int main(void)
{
    tap_watchdog(60);
    int fds = tap_fd_count();
    inert_copies(task_meddle, "copy used");
    worker_after_destroy();
    atexit(destroy_at_exit);
    inert_copies(task_exit3, "copy destroyed by atexit");
    threads_fd_hygiene();
    is(tap_fd_count(), fds, "no fd left");
    ok(tap_no_children(), "no child left");
    return done_testing();
}
