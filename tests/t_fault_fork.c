/* fork() and pipe2() fail (EAGAIN, ENOMEM, EMFILE), injected by wrapping
   them in this test program: each task whose child cannot be made fails
   with FORKPOOL_ERR_SPAWN and the errno, through its catch handler, with a
   message; nothing hangs or leaks; once the system recovers, the same pool
   runs tasks again. With a fork server, a task's child is not made by fork()
   here but by the helper's clone, which fails instead. */
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>

#include "forkpool.h"
#include "tap.h"

/* How many of the next calls fail, and with which errno. */
static int fail_forks, fork_errno, fail_pipes, pipe_errno;

/* The same for the fork server's clones: in shared memory, as the helper
   is a snapshot of this program made at forkpool_create. */
struct clones {
    int fail, err;
};
static struct clones *clones;

/* Reads six arguments whatever the call passed, as libc's syscall() does. */
long syscall(long n, ...)
{
    static long (*real)(long, ...);
    long a[6];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (n == SYS_clone && (a[0] & CLONE_PARENT) && clones && clones->fail > 0) {
        clones->fail--;
        errno = clones->err;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "syscall");
    return real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

pid_t fork(void)
{
    static pid_t (*real)(void);
    if (fail_forks > 0) {
        fail_forks--;
        errno = fork_errno;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "fork");
    return real();
}

int pipe2(int fds[2], int flags)
{
    static int (*real)(int *, int);
    if (fail_pipes > 0) {
        fail_pipes--;
        errno = pipe_errno;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "pipe2");
    return real(fds, flags);
}

static int task_ok(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_return(ctx, "ok", 2);
}

struct seen {
    int spawn, other, then;
    int codes[8];
};

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
    if (e->kind == FORKPOOL_ERR_SPAWN && e->message[0] && s->spawn < 8)
        s->codes[s->spawn++] = e->code;
    else
        s->other++;
}

/* Runs n tasks with the first `failing` forks (or pipes) failing. */
static void batch(forkpool *p, int n, int failing, int *counter, int *err_var, int err,
                  const char *what)
{
    struct seen s = {0};
    *counter = failing;
    *err_var = err;
    for (int i = 0; i < n; i++) {
        forkpool_task *t = forkpool_run(p, task_ok, NULL, 0);
        forkpool_catch(forkpool_then(t, on_then, &s), on_catch, &s);
        forkpool_task_release(t);
    }
    is(forkpool_await(p), 0, "%s: await returns, every failure was caught", what);
    is(s.spawn, failing, "%s: %d tasks failed with SPAWN", what, failing);
    int same = 1;
    for (int i = 0; i < s.spawn && i < 8; i++)
        same &= s.codes[i] == err;
    ok(same, "%s: each with code %s", what, strerror(err));
    is(s.then, n - failing, "%s: the other %d succeeded", what, n - failing);
    is(s.other, 0, "%s: no other kind of failure", what);
}

int main(void)
{
    tap_watchdog(30);
    int fds = tap_fd_count();
    forkpool_options o = {0};
    o.concurrency = 2;
    /* WORKERS: a worker per task, so every task needs a fork, as in FRESH
       (and recycling is exercised under injected failures). */
    o.max_tasks_per_worker = 1;
    clones = tap_shared(sizeof *clones);
    forkpool *p = forkpool_create(&o);
    int *forks = tap_server() ? &clones->fail : &fail_forks;
    int *forks_errno = tap_server() ? &clones->err : &fork_errno;
    batch(p, 6, 3, forks, forks_errno, EAGAIN, "fork EAGAIN");
    batch(p, 6, 2, forks, forks_errno, ENOMEM, "fork ENOMEM");
    batch(p, 6, 2, &fail_pipes, &pipe_errno, EMFILE, "pipe2 EMFILE");
    batch(p, 6, 0, forks, forks_errno, 0, "recovered");
    forkpool_stats st = forkpool_get_stats(p);
    is(st.failed, 7, "stats count the 7 spawn failures");
    forkpool_destroy(p);
    is(tap_fd_count(), fds, "no fd left");
    ok(tap_no_children(), "no child left");
    tap_shared_free(clones, sizeof *clones);
    clones = NULL;
    return done_testing();
}
