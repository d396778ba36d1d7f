/* contain (issue #13): what a task starts lives in a PID namespace that the
   kernel empties when the task's process ends, however it ends - returned,
   exit(), a crash, a timeout - and when the program is SIGKILLed, also
   descendants that left the task's group and session (setsid) and were
   orphaned, which without contain outlive a crash or exit(). Outcomes are
   those without contain. Where the kernel refuses namespaces (here: a
   process that gave up root), forkpool_create fails with EPERM; INLINE and
   FORKPOOL_MPI are EINVAL.

   Each escapee records its pid as the test sees it (tap_pid) in shared
   memory; "gone" is tap_wait_pid_dead, bounded. */
#include <pthread.h>
#include <sys/prctl.h>

#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int escapee; /* outer pid of the setsid'd, orphaned descendant */
    _Atomic int inner;   /* its getpid(): its pid in its namespace          */
};
static struct shared *sh;

enum end { END_RETURN, END_EXIT, END_CRASH, END_TIMEOUT };

/* Starts the escapee (setsid, double fork: an orphan that ignores SIGTERM)
   and waits until it recorded itself. */
static int start_escapee(void)
{
    atomic_store(&sh->escapee, 0);
    pid_t c = fork();
    if (c < 0)
        return -1;
    if (c == 0) {
        setsid();
        if (fork() != 0)
            _exit(0);
        signal(SIGTERM, SIG_IGN);
        atomic_store(&sh->inner, (int)getpid());
        atomic_store(&sh->escapee, (int)tap_pid());
        tap_pause_forever();
    }
    waitpid(c, NULL, 0);
    while (atomic_load(&sh->escapee) == 0)
        tap_sleep_ms(1);
    return 0;
}

static int task_escape(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    enum end how = *(const enum end *)arg;
    if (start_escapee() == -1)
        return forkpool_throw(ctx, "fork", "fork: %s", strerror(errno));
    switch (how) {
    case END_EXIT:
        /* _exit, not exit: under LeakSanitizer exit's leak check forks its
           tracer into the namespace, where it cannot see this process. */
        _exit(3);
    case END_CRASH:
        raise(SIGSEGV);
        break;
    case END_TIMEOUT:
        tap_pause_forever();
    case END_RETURN:
        break;
    }
    return forkpool_return(ctx, "ok", 2);
}

static void one_end(forkpool *p, enum end how, const char *name, int kind, int code)
{
    atomic_store(&sh->escapee, 0); /* not the last case's: the task may never get to it */
    forkpool_task *t = forkpool_run(p, task_escape, &how, sizeof how);
    ok(t != NULL, "%s: queued", name);
    if (how == END_TIMEOUT) { /* its limit once the escapee surely runs, as t_timeout_tree */
        TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->escapee) != 0), 10000);
        forkpool_set_timeout(t, 100);
    }
    int rc = forkpool_wait(t);
    const forkpool_error *e = forkpool_task_error(t);
    if (kind == 0) {
        is(rc, 0, "%s: the task succeeded", name);
    } else {
        ok(e && (int)e->kind == kind && e->code == code, "%s: outcome %d/%d as without contain",
           name, kind, code);
        if (e && ((int)e->kind != kind || e->code != code))
            diag("got kind %d code %d: %s", (int)e->kind, e->code, e->message);
    }
    forkpool_task_release(t);
    pid_t esc = atomic_load(&sh->escapee);
    ok(esc > 0, "%s: the escapee ran (pid %d)", name, (int)esc);
    ok(esc > 0 && tap_wait_pid_dead(esc, 5000), "%s: the setsid'd orphan is gone", name);
    if (esc > 0 && !tap_pid_dead(esc))
        kill(esc, SIGKILL);
}

static void ends(void)
{
    forkpool_options o = {.concurrency = 2, .contain = 1};
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "created with contain (%s)", p ? "ok" : strerror(errno));
    if (!p)
        return;
    one_end(p, END_RETURN, "returned", 0, 0);
    ok(atomic_load(&sh->inner) != atomic_load(&sh->escapee),
       "the orphan lives in a PID namespace of its own (pid %d there, %d here)",
       atomic_load(&sh->inner), atomic_load(&sh->escapee));
    one_end(p, END_EXIT, "exit(3)", FORKPOOL_ERR_EXITED, 3);
    one_end(p, END_CRASH, "SIGSEGV", FORKPOOL_ERR_SIGNALED, SIGSEGV);
    one_end(p, END_TIMEOUT, "timeout", FORKPOOL_ERR_TIMEOUT, 0);
    one_end(p, END_RETURN, "returned again (a worker's next namespace)", 0, 0);
    forkpool_destroy(p);
}

static void *nothing(void *arg)
{
    return arg;
}

/* Returns pthread_create's error (0: it worked). */
static int task_thread(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    pthread_t th;
    int err = pthread_create(&th, NULL, nothing, NULL);
    if (err == 0)
        pthread_join(th, NULL);
    return forkpool_return(ctx, &err, sizeof err) == 0 ? 0 : 1;
}

/* The documented limit: a task's process, whose children go into another
   PID namespace, may not start threads (the kernel refuses: EINVAL), and
   the task hears so as an error, not a crash. */
static void no_threads(void)
{
    forkpool *p = forkpool_create(&(forkpool_options){.contain = 1});
    if (!p)
        bail_out("no pool with contain");
    forkpool_task *t = forkpool_run(p, task_thread, NULL, 0);
    is(forkpool_wait(t), 0, "a task that tries to start a thread ran");
    size_t len = 0;
    const int *err = forkpool_task_result(t, &len);
    is(err && len == sizeof *err ? *err : -1, EINVAL, "pthread_create in it: EINVAL");
    forkpool_task_release(t);
    forkpool_destroy(p);
}

/* A program whose background child setsids and stays: gone once the
   program exited. */
static void program(void)
{
    forkpool_options o = {.contain = 1};
    forkpool *p = forkpool_create(&o);
    if (!p) {
        ok(0, "program: created (%s)", strerror(errno));
        return;
    }
    const char *argv[] = {"/bin/sh", "-c",
                          "p=$(setsid /bin/sh -c 'readlink /proc/self; "
                          "exec sleep 1000 >/dev/null' &); echo \"$p\"",
                          NULL};
    forkpool_task *t =
        forkpool_exec(p, argv, &(forkpool_exec_options){.capture = FORKPOOL_CAPTURE_STDOUT});
    is(forkpool_wait(t), 0, "program: exited 0");
    size_t len = 0;
    const char *out = forkpool_task_result(t, &len);
    pid_t esc = out && len ? (pid_t)atoi(out) : 0;
    ok(esc > 0, "program: its setsid'd child ran (pid %d)", (int)esc);
    ok(esc > 0 && tap_wait_pid_dead(esc, 5000), "program: that child is gone");
    if (esc > 0 && !tap_pid_dead(esc))
        kill(esc, SIGKILL);
    forkpool_task_release(t);
    forkpool_destroy(p);
}

/* The program SIGKILLed while its task's escapee runs. */
static void owner_killed(void)
{
    atomic_store(&sh->escapee, 0);
    fflush(stdout);
    pid_t s = fork();
    if (s == 0) {
        forkpool_options o = {.contain = 1};
        forkpool *p = forkpool_create(&o);
        if (!p)
            _exit(2);
        static enum end how = END_TIMEOUT; /* no timeout set: runs forever */
        forkpool_run(p, task_escape, &how, sizeof how);
        forkpool_await(p);
        _exit(3);
    }
    ok(TAP_WAIT_UNTIL(atomic_load(&sh->escapee) != 0, 10000), "SIGKILL: the escapee runs");
    pid_t esc = atomic_load(&sh->escapee);
    kill(s, SIGKILL);
    waitpid(s, NULL, 0);
    ok(esc > 0 && tap_wait_pid_dead(esc, 5000), "SIGKILL: the escapee died with the program");
    if (esc > 0 && !tap_pid_dead(esc))
        kill(esc, SIGKILL);
}

static void refused(void)
{
    forkpool_options inl = {.contain = 1, .mode = FORKPOOL_INLINE};
    forkpool_options mpi = {.contain = 1, .mode = FORKPOOL_MPI};
    errno = 0;
    ok(!forkpool_create(&inl) && errno == EINVAL, "INLINE with contain: EINVAL");
    errno = 0;
    ok(!forkpool_create(&mpi) && errno == EINVAL, "FORKPOOL_MPI with contain: EINVAL");
    /* A process without CAP_SYS_ADMIN (here: root that became nobody). */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        if (setgid(65534) == -1 || setuid(65534) == -1)
            _exit(10);
        forkpool_options o = {.contain = 1};
        errno = 0;
        forkpool *p = forkpool_create(&o);
        _exit(p ? 11 : errno == EPERM ? 0 : 12);
    }
    int st = 0;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "without CAP_SYS_ADMIN: EPERM (child status %d)",
       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(void)
{
    tap_watchdog(60);
    if (geteuid() != 0) {
        /* Only root may make PID namespaces here (no user namespaces). */
        forkpool_options o = {.contain = 1};
        ok(!forkpool_create(&o) && errno == EPERM,
           "not root: forkpool_create refuses contain with EPERM");
        return done_testing();
    }
    sh = tap_shared(sizeof *sh);
    refused();
    ends();
    no_threads();
    program();
    owner_killed();
    ok(tap_no_children(), "no children left");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
