/* Different pools may be used from different threads at the same time: each
   thread's pool runs its tasks and gets its own results; nothing deadlocks
   and nothing is left behind. */
#include <poll.h>
#include <pthread.h>

#include "forkpool.h"
#include "tap.h"

#define THREADS 3
#define TASKS 8

static int task_mul(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int v[2];
    memcpy(v, arg, sizeof v);
    int r = v[0] * 1000 + v[1];
    return forkpool_return(ctx, &r, sizeof r) == 0 ? 0 : 1;
}

static int task_throw(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    return forkpool_throw(ctx, "thr", "thread task failed");
}

struct th {
    int id;
    int ok_results;
    int then_calls;
    int catch_calls;
    int await_rc;
    int created;
    int unexpected;
    char first_error[200];
    /* Kept in a global: a task child forked by one thread must still reach
       the other threads' pools from a root, or valgrind's leak check in that
       child (whose only thread is the forking one) reports them lost and
       --error-exitcode changes the child's exit status. */
    forkpool *pool;
};
static struct th st[THREADS];
/* All threads exist before any pool is made (no fork overlaps a thread's
   creation), and all pools exist (and are stored in st[]) before any thread
   forks a task. */
static pthread_barrier_t started, created;

/*
 * Under AddressSanitizer the threads take turns inside the library. gcc 12's
 * libasan does not make its allocator fork-safe (see t_fault_host.c): a
 * worker forked while another thread refills an allocator cache deadlocks
 * in its first malloc (CI saw it; here 1 run in 9 with 6 suites at once).
 * That is README's "a library's internal lock", which glibc's malloc, in a
 * normal build, is not. The pools' children still run at the same time, and
 * in a normal build the threads call the library at the same time too.
 */
#ifdef FP_ASAN
static pthread_mutex_t turn = PTHREAD_MUTEX_INITIALIZER;
static void turn_begin(void) { pthread_mutex_lock(&turn); }
static void turn_end(void) { pthread_mutex_unlock(&turn); }
#else
static void turn_begin(void) {}
static void turn_end(void) {}
#endif

/* forkpool_await, in turns under ASan: polls without blocking while holding
   the turn, and waits for the pool's fd without it. */
static int await_pool(forkpool *p)
{
#ifdef FP_ASAN
    for (;;) {
        turn_begin();
        int n = forkpool_poll(p, 0);
        turn_end();
        if (n <= 0)
            break; /* idle, or an error await reports below */
        struct pollfd pfd = {.fd = forkpool_fd(p), .events = POLLIN};
        (void)poll(&pfd, 1, 100);
    }
#endif
    turn_begin();
    int rc = forkpool_await(p);
    turn_end();
    return rc;
}

static void on_then(forkpool_task *t, const void *r, size_t len, void *ud)
{
    struct th *x = ud;
    x->then_calls++;
    size_t al = 0;
    (void)forkpool_task_result(t, &al);
    if (len == sizeof(int) && al == len)
        x->ok_results++;
    (void)r;
}
static void on_catch(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    struct th *x = ud;
    if (e->kind == FORKPOOL_ERR_THROWN && strcmp(e->type, "thr") == 0)
        x->catch_calls++;
    else
        x->unexpected++;
}

static void on_catch_any(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    struct th *x = ud;
    if (x->unexpected++ == 0)
        snprintf(x->first_error, sizeof x->first_error, "%s: %s", e->type, e->message);
}

/* In a task: a pool made and used from a thread the task starts. */
static void *nested_thread(void *arg)
{
    int *r = arg;
    forkpool *p = forkpool_create(NULL);
    if (!p)
        return NULL;
    int v[2] = {7, 9};
    forkpool_task *t = forkpool_run(p, task_mul, v, sizeof v);
    size_t len = 0;
    const int *got = forkpool_wait(t) == 0 ? forkpool_task_result(t, &len) : NULL;
    if (got && len == sizeof *got)
        *r = *got;
    forkpool_task_release(t);
    forkpool_destroy(p);
    return NULL;
}

static int task_nested(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    pthread_t th;
    int r = -1;
    int err = pthread_create(&th, NULL, nested_thread, &r);
    if (err != 0)
        return forkpool_throw(ctx, "thread", "pthread_create: %s", strerror(err));
    pthread_join(th, NULL);
    return forkpool_return(ctx, &r, sizeof r) == 0 ? 0 : 1;
}

static void *worker(void *arg)
{
    struct th *x = arg;
    forkpool_options o = {0};
    o.concurrency = 2;
    pthread_barrier_wait(&started);
    turn_begin();
    forkpool *p = forkpool_create(&o);
    turn_end();
    x->pool = p;
    x->created = p != NULL;
    pthread_barrier_wait(&created);
    if (!p)
        return NULL;
    forkpool_task *t[TASKS];
    int vals[TASKS][2];
    turn_begin();
    for (int i = 0; i < TASKS; i++) {
        vals[i][0] = x->id;
        vals[i][1] = i;
        t[i] = forkpool_run(p, task_mul, vals[i], sizeof vals[i]);
        forkpool_then(t[i], on_then, x);
        forkpool_catch(t[i], on_catch_any, x);
    }
    forkpool_task_release(forkpool_catch(forkpool_run(p, task_throw, NULL, 0), on_catch, x));
    turn_end();
    x->await_rc = await_pool(p);
    turn_begin();
    for (int i = 0; i < TASKS; i++) {
        size_t len = 0;
        const int *r = forkpool_task_result(t[i], &len);
        if (!r || len != sizeof(int) || *r != x->id * 1000 + i)
            x->ok_results = -1000; /* another thread's result */
        forkpool_task_release(t[i]);
    }
    forkpool_destroy(p);
    turn_end();
    return NULL;
}

int main(void)
{
    tap_watchdog(30);
    pthread_t th[THREADS];
    int fds0 = tap_fd_count();
    pthread_barrier_init(&started, NULL, THREADS);
    pthread_barrier_init(&created, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        st[i].id = i + 1;
        ok(pthread_create(&th[i], NULL, worker, &st[i]) == 0, "thread %d started", i + 1);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        ok(st[i].created, "thread %d: created its pool", i + 1);
        is(st[i].await_rc, 0, "thread %d: await returned 0 (every failure was handled)", i + 1);
        is(st[i].then_calls, TASKS, "thread %d: %d then handlers ran", i + 1, TASKS);
        is(st[i].ok_results, TASKS, "thread %d: every task had its own result", i + 1);
        is(st[i].catch_calls, 1, "thread %d: its failing task was caught", i + 1);
        is(st[i].unexpected, 0, "thread %d: no unexpected failure%s%s", i + 1, st[i].unexpected ? ": " : "",
           st[i].first_error);
    }
    pthread_barrier_destroy(&started);
    pthread_barrier_destroy(&created);

    /* A child of a program with threads (the launch held the library's
       lock across the fork) starts threads of its own and uses a pool
       from one: the lock is free in the child. A deadlock would end in
       the timeout. */
    forkpool *p = forkpool_create(&(forkpool_options){.timeout_ms = 10000L * tap_scale()});
    if (!p)
        bail_out("no pool");
    forkpool_task *t = forkpool_run(p, task_nested, NULL, 0);
    int rc = forkpool_wait(t);
    const forkpool_error *e = forkpool_task_error(t);
    is(rc, 0, "a task's own thread used a pool of its own%s%s", e ? ": " : "",
       e ? e->message : "");
    size_t len = 0;
    const int *r = forkpool_task_result(t, &len);
    ok(r && len == sizeof *r && *r == 7009, "and got its task's result (%d)", r ? *r : -1);
    forkpool_task_release(t);
    forkpool_destroy(p);

    ok(tap_no_children(), "no children");
    is(tap_fd_count(), fds0, "no fds left");
    return done_testing();
}
