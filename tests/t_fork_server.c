/* fork_server: every child is forked from a helper made at forkpool_create.
   Results, errors, crashes, timeouts and cancels behave as without it; a
   child is the pool process's own child, sees the program as it was at
   create (not a thread or a lock taken since), holds no fd of the library
   but its channel; a helper that dies is replaced at the next task (or, if
   that fails, the task fails SPAWN), one that is stopped is killed and
   replaced, never a hang; a copy of the pool in a fork of the host never
   touches it; destroy leaves no helper and no zombie. INLINE refuses it. */
#include <dlfcn.h>
#include <pthread.h>

#include "forkpool.h"
#include "tap.h"

/* fork() fails this many times (the helper is made with fork()). */
static int fail_forks;

pid_t fork(void)
{
    static pid_t (*real)(void);
    if (fail_forks > 0) {
        fail_forks--;
        errno = EAGAIN;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "fork");
    return real();
}

struct shared {
    _Atomic int started;
    _Atomic int go;
    _Atomic int helper, task; /* case_owner_killed's processes */
};
static struct shared *sh;

static int g_value = 1; /* changed after create: the children see 1 */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------- tasks */

static int task_echo(forkpool_ctx *ctx, const void *arg, size_t len)
{
    return forkpool_return(ctx, arg, len);
}

static int task_throw(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_throw(ctx, "app.bad", "bad input %d", 7);
}

static int task_abort(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    abort();
}

static int task_sleep(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    atomic_fetch_add(&sh->started, 1);
    tap_pause_forever();
}

/* Runs until sh->go, then succeeds. */
static int task_wait_go(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    atomic_fetch_add(&sh->started, 1);
    if (!TAP_WAIT_UNTIL(atomic_load(&sh->go), 20000))
        return forkpool_throw(ctx, "test", "no go");
    return forkpool_return(ctx, "went", 4);
}

struct info {
    pid_t ppid;
    int threads;
    int trylock;
    int value;
};

static int threads_now(void)
{
    char line[256];
    int n = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

static int task_info(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    struct info in;
    in.ppid = getppid();
    in.threads = threads_now();
    in.trylock = pthread_mutex_trylock(&g_lock);
    in.value = g_value;
    return forkpool_return(ctx, &in, sizeof in);
}

#define MAXFD 64
struct fdent {
    int fd;
    char target[120];
};

/* The fds below 1024 (a tool like valgrind keeps its own above). */
static int list_fds(struct fdent *out, int max)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d) || fd >= 1024)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(path, out[n].target, sizeof out[n].target - 1);
        if (k < 0)
            continue;
        out[n].target[k] = '\0';
        out[n].fd = fd;
        n++;
    }
    closedir(d);
    return n;
}

static int task_fds(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    static struct fdent ents[MAXFD];
    atomic_fetch_add(&sh->started, 1);
    if (!TAP_WAIT_UNTIL(atomic_load(&sh->go), 20000))
        return forkpool_throw(ctx, "test", "no go");
    int n = list_fds(ents, MAXFD);
    if (n < 0)
        return forkpool_throw(ctx, "test", "cannot list fds");
    return forkpool_return(ctx, ents, (size_t)n * sizeof ents[0]);
}

/* ----------------------------------------------------------- helpers */

static forkpool *make_pool(unsigned concurrency)
{
    forkpool_options o = {0};
    o.concurrency = concurrency;
    o.kill_grace_ms = 100;
    o.fork_server = 1;
    /* The fork server's own test: FRESH through the helper, whatever the
       suite's variant (the variants run the rest of the suite with it). */
    forkpool *p = (forkpool_create)(&o);
    if (!p)
        bail_out("forkpool_create with fork_server failed");
    return p;
}

/* The pool's helper: this process's one child while nothing runs. */
static pid_t helper_of_idle_pool(void)
{
    pid_t kids[4];
    if (tap_children(kids, 4) != 1)
        bail_out("not one child: the helper cannot be told apart");
    return kids[0];
}

static int run_ok(forkpool *p)
{
    int v = 42;
    forkpool_task *t = forkpool_run(p, task_echo, &v, sizeof v);
    size_t n = 0;
    int rc = forkpool_wait(t);
    const int *r = forkpool_task_result(t, &n);
    int good = rc == 0 && n == sizeof v && *r == 42;
    forkpool_task_release(t);
    return good;
}

static forkpool_error_kind kind_of(forkpool_task *t)
{
    const forkpool_error *e = forkpool_task_error(t);
    return e ? e->kind : (forkpool_error_kind)0;
}

/* ------------------------------------------------------------- cases */

static void case_outcomes(const char *mode)
{
    forkpool *p = make_pool(2);

    /* arguments of 0 bytes, 1 KiB, and 1 MiB (past one socket message) */
    static unsigned char big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + 3);
    const size_t sizes[3] = {0, 1024, sizeof big};
    for (int i = 0; i < 3; i++) {
        forkpool_task *t = forkpool_run(p, task_echo, big, sizes[i]);
        size_t n = 1;
        int rc = forkpool_wait(t);
        const void *r = forkpool_task_result(t, &n);
        ok(rc == 0 && r != NULL, "%s: %zu-byte argument: succeeded", mode, sizes[i]);
        is_mem(r, n, big, sizes[i], "%s: %zu-byte argument: echoed whole", mode, sizes[i]);
        forkpool_task_release(t);
    }

    forkpool_task *t = forkpool_run(p, task_throw, NULL, 0);
    is(forkpool_wait(t), 1, "%s: throw: failed", mode);
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_THROWN && strcmp(e->type, "app.bad") == 0 &&
           strcmp(e->message, "bad input 7") == 0,
       "%s: throw: THROWN app.bad 'bad input 7'", mode);
    forkpool_task_release(t);

    t = forkpool_run(p, task_abort, NULL, 0);
    is(forkpool_wait(t), 1, "%s: abort: failed", mode);
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SIGNALED && e->code == SIGABRT,
       "%s: abort: SIGNALED SIGABRT (%s)", mode, e ? e->message : "none");
    forkpool_task_release(t);

    t = forkpool_run(p, task_sleep, NULL, 0);
    forkpool_set_timeout(t, 100);
    is(forkpool_wait(t), 1, "%s: timeout: failed", mode);
    is(kind_of(t), FORKPOOL_ERR_TIMEOUT, "%s: timeout: TIMEOUT", mode);
    pid_t pid = forkpool_task_pid(t);
    ok(pid > 0 && tap_pid_dead(pid), "%s: timeout: its child is gone", mode);
    forkpool_task_release(t);

    atomic_store(&sh->started, 0);
    t = forkpool_run(p, task_sleep, NULL, 0);
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->started) == 1), 10000),
       "%s: cancel: the task runs", mode);
    is(forkpool_cancel(t), 0, "%s: cancel: accepted", mode);
    is(forkpool_wait(t), 1, "%s: cancel: failed", mode);
    is(kind_of(t), FORKPOOL_ERR_CANCELLED, "%s: cancel: CANCELLED", mode);
    forkpool_task_release(t);

    pid_t helper = helper_of_idle_pool();
    ok(helper > 0 && tap_proc_state(helper) != 'Z', "%s: idle: the helper is the one child",
       mode);
    forkpool_destroy(p);
    ok(helper > 0 && tap_proc_state(helper) == 0, "%s: destroy: the helper %d is gone, reaped",
       mode, (int)helper);
    ok(tap_no_children(), "%s: destroy: no child, no zombie", mode);
}

static void *hold_lock(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_lock);
    atomic_store(&sh->started, 100);
    TAP_WAIT_UNTIL(atomic_load(&sh->go), 20000);
    pthread_mutex_unlock(&g_lock);
    return NULL;
}

static void case_snapshot(void)
{
    forkpool *p = make_pool(2);
    pthread_t th;
    g_value = 2;
    atomic_store(&sh->go, 0);
    atomic_store(&sh->started, 0);
    if (pthread_create(&th, NULL, hold_lock, NULL) != 0)
        bail_out("pthread_create failed");
    TAP_WAIT_UNTIL(atomic_load(&sh->started) == 100, 10000);
    forkpool_task *t = forkpool_run(p, task_info, NULL, 0);
    int rc = forkpool_wait(t);
    size_t n = 0;
    const struct info *in = forkpool_task_result(t, &n);
    ok(rc == 0 && n == sizeof *in, "snapshot: task ran");
    if (rc == 0 && n == sizeof *in) {
        is(in->ppid, getpid(), "snapshot: the child is the pool process's child (getppid)");
        is(in->threads, 1, "snapshot: a thread started after create is not in it");
        is(in->trylock, 0, "snapshot: a lock that thread holds is free in it");
        is(in->value, 1, "snapshot: it sees a global as it was at create");
    }
    forkpool_task_release(t);
    atomic_store(&sh->go, 1);
    pthread_join(th, NULL);
    g_value = 1;
    forkpool_destroy(p);
}

static int has_target(const struct fdent *set, int n, const char *target)
{
    for (int i = 0; i < n; i++)
        if (strcmp(set[i].target, target) == 0)
            return 1;
    return 0;
}

static void case_fds(void)
{
    static struct fdent pre[MAXFD];
    int npre = list_fds(pre, MAXFD);
    forkpool *p = make_pool(3);
    forkpool *other = make_pool(1); /* its fds and helper socket too */
    int late = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    atomic_store(&sh->go, 0);
    atomic_store(&sh->started, 0);
    forkpool_task *t[3], *busy = forkpool_run(other, task_wait_go, NULL, 0);
    for (int i = 0; i < 3; i++)
        t[i] = forkpool_run(p, task_fds, NULL, 0);
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 2), forkpool_poll(other, 2),
                       atomic_load(&sh->started) == 4),
                      10000),
       "fds: 3 tasks and a task of another pool run at once");
    atomic_store(&sh->go, 1);
    is(forkpool_await(p), 0, "fds: the 3 tasks succeeded");
    is(forkpool_await(other), 0, "fds: so did the other pool's");
    int clean = 1, pipes_ok = 1, ntasks = 0;
    char seen[3][120] = {{0}};
    for (int i = 0; i < 3; i++) {
        size_t len = 0;
        const struct fdent *ents = forkpool_task_result(t[i], &len);
        if (!ents || len % sizeof *ents)
            continue;
        ntasks++;
        int n = (int)(len / sizeof *ents), extra = 0;
        for (int k = 0; k < n; k++) {
            if (has_target(pre, npre, ents[k].target))
                continue;
            extra++;
            if (strncmp(ents[k].target, "pipe:", 5) != 0) {
                clean = 0;
                diag("task %d holds fd %d -> %s", i, ents[k].fd, ents[k].target);
            }
            snprintf(seen[i], sizeof seen[i], "%s", ents[k].target);
        }
        if (extra != 1) {
            pipes_ok = 0;
            diag("task %d holds %d fds besides the program's", i, extra);
        }
    }
    is(ntasks, 3, "fds: each task listed its fds");
    ok(clean, "fds: a child holds no socket, epoll, pidfd, or fd opened after create");
    ok(pipes_ok && strcmp(seen[0], seen[1]) != 0 && strcmp(seen[1], seen[2]) != 0 &&
           strcmp(seen[0], seen[2]) != 0,
       "fds: beyond the program's fds from before create, each holds one pipe, its own");
    for (int i = 0; i < 3; i++)
        forkpool_task_release(t[i]);
    forkpool_task_release(busy);
    close(late);
    forkpool_destroy(other);
    forkpool_destroy(p);
}

static void case_helper_killed(const char *mode)
{
    forkpool *p = make_pool(2);
    ok(run_ok(p), "%s: killed: a task runs", mode);
    pid_t h1 = helper_of_idle_pool();
    ok(h1 > 0, "%s: killed: found the helper", mode);

    /* killed while tasks are queued and running: every one still succeeds
       (a new helper is made for the next child) */
    atomic_store(&sh->go, 0);
    atomic_store(&sh->started, 0);
    forkpool_task *t[12];
    for (int i = 0; i < 12; i++)
        t[i] = forkpool_run(p, task_wait_go, NULL, 0);
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 2), atomic_load(&sh->started) == 2), 10000),
       "%s: killed: two tasks run, ten wait", mode);
    kill(h1, SIGKILL);
    atomic_store(&sh->go, 1);
    is(forkpool_await(p), 0, "%s: killed: every task succeeded", mode);
    int all = 1;
    for (int i = 0; i < 12; i++) {
        all &= forkpool_task_state(t[i]) == FORKPOOL_SUCCEEDED;
        forkpool_task_release(t[i]);
    }
    ok(all, "%s: killed: all 12 results in", mode);
    pid_t h2 = helper_of_idle_pool();
    ok(h2 > 0 && h2 != h1, "%s: killed: a new helper %d replaced %d", mode, (int)h2, (int)h1);
    ok(tap_proc_state(h1) == 0, "%s: killed: the dead one was reaped", mode);

    /* killed, and the new one cannot be made: that task fails SPAWN with
       the errno; the next one gets a helper again */
    kill(h2, SIGKILL);
    ok(tap_wait_pid_dead(h2, 5000), "%s: killed again", mode);
    fail_forks = 1;
    forkpool_task *f = forkpool_run(p, task_echo, NULL, 0);
    is(forkpool_wait(f), 1, "%s: no new helper: the task failed", mode);
    const forkpool_error *e = forkpool_task_error(f);
    ok(e && e->kind == FORKPOOL_ERR_SPAWN && e->code == EAGAIN && e->message[0],
       "%s: no new helper: SPAWN, EAGAIN (%s)", mode, e ? e->message : "none");
    forkpool_task_release(f);
    is(fail_forks, 0, "%s: no new helper: one fork was tried", mode);
    ok(tap_proc_state(h2) == 0, "%s: no new helper: the dead one was reaped", mode);
    ok(run_ok(p), "%s: the next task starts a helper and runs", mode);
    forkpool_destroy(p);
    ok(tap_no_children(), "%s: killed: no child left after destroy", mode);
}

static void case_helper_stopped(void)
{
    forkpool *p = make_pool(1);
    ok(run_ok(p), "stopped: a task runs");
    pid_t h = helper_of_idle_pool();
    kill(h, SIGSTOP);
    /* the helper does not answer: after its 10 s it is killed and replaced */
    long long t0 = tap_now_ms();
    ok(run_ok(p), "stopped: the next task still runs");
    diag("stopped: that task took %lld ms", tap_now_ms() - t0);
    ok(tap_proc_state(h) == 0, "stopped: the stopped helper was killed and reaped");
    forkpool_destroy(p);
    ok(tap_no_children(), "stopped: no child left after destroy");
}

static int task_record_sleep(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    signal(SIGTERM, SIG_IGN);
    atomic_store(&sh->task, (int)getpid());
    tap_pause_forever();
}

/* The pool's process is SIGKILLed: its helper and its tasks die with it. */
static void case_owner_killed(void)
{
    atomic_store(&sh->helper, 0);
    atomic_store(&sh->task, 0);
    fflush(stdout);
    pid_t owner = fork();
    if (owner == 0) {
        forkpool *p = make_pool(1);
        atomic_store(&sh->helper, (int)helper_of_idle_pool());
        forkpool_run(p, task_record_sleep, NULL, 0);
        forkpool_await(p); /* never returns: the test kills us */
        _exit(3);
    }
    ok(TAP_WAIT_UNTIL(atomic_load(&sh->helper) > 0 && atomic_load(&sh->task) > 0, 10000),
       "owner killed: its helper and task run");
    pid_t h = (pid_t)atomic_load(&sh->helper), t = (pid_t)atomic_load(&sh->task);
    kill(owner, SIGKILL);
    waitpid(owner, NULL, 0);
    ok(h > 0 && tap_wait_pid_dead(h, 5000), "owner killed: the helper died with it");
    ok(t > 0 && tap_wait_pid_dead(t, 5000), "owner killed: the task died with it");
    if (h > 0 && !tap_pid_dead(h))
        kill(h, SIGKILL);
    if (t > 0 && !tap_pid_dead(t))
        kill(t, SIGKILL);
}

/* A fork the host makes (not a task) destroys its copy of the pool: the
   helper is neither signalled nor reaped from there. */
static void case_host_fork(void)
{
    forkpool *p = make_pool(1);
    ok(run_ok(p), "host fork: a task runs");
    pid_t h = helper_of_idle_pool();
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        forkpool_destroy(p);
        _exit(0);
    }
    int status = -1;
    waitpid(c, &status, 0);
    is(status, 0, "host fork: the fork destroyed its copy");
    ok(helper_of_idle_pool() == h && tap_proc_state(h) != 'Z', "host fork: the helper lives on");
    ok(run_ok(p), "host fork: the pool still runs tasks");
    forkpool_destroy(p);
}

int main(void)
{
    tap_watchdog(90);
    tap_no_core_dumps();
    sh = tap_shared(sizeof *sh);
    int fds0 = tap_fd_count();

    forkpool_options o = {0};
    o.mode = FORKPOOL_INLINE;
    o.fork_server = 1;
    errno = 0;
    ok((forkpool_create)(&o) == NULL && errno == EINVAL, "INLINE with fork_server: EINVAL");

    case_outcomes("pidfd");
    setenv("FORKPOOL_NO_PIDFD", "1", 1);
    case_outcomes("fallback");
    case_helper_killed("fallback");
    unsetenv("FORKPOOL_NO_PIDFD");
    case_helper_killed("pidfd");
    case_snapshot();
    case_fds();
    case_host_fork();
    case_owner_killed();
    case_helper_stopped();

    is(tap_fd_count(), fds0, "no fd left");
    ok(tap_no_children(), "no child left");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
